#include "see/dot.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>

#include "see/tape.hpp"
#include "see/values.hpp"

namespace tg::see {

namespace {

std::string quote(const std::string& s) {
    // single quotes for the shell, with any single quote in s closed, escaped and reopened
    std::string out = "'";
    for (char c : s) {
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return out + "'";
}

std::string html(const std::string& s) {
    std::string out;
    for (char c : s) {
        out += c == '<' ? std::string("&lt;") : c == '>' ? std::string("&gt;") : c == '&' ? std::string("&amp;") : std::string(1, c);
    }
    return out;
}

// The rows of an array's display: a 2-D array one row per line, anything else on one line.
template <class T>
std::vector<std::string> rows(const Array<T>& a, std::size_t max_values) {
    if (a.dimension() != 2 || a.shape()[0] < 2 || a.size() > max_values) {
        return {show(a, max_values)};
    }
    std::vector<std::string> out;
    for (std::size_t r = 0; r < a.shape()[0]; ++r) {
        out.push_back(show(Array<T>(xt::view(a, r, xt::all())), max_values));
    }
    return out;
}

}  // namespace

template <class T>
std::string box_label(const std::string& head, const Array<T>* value, const Array<T>* grad, std::size_t max_values,
                      bool summarise_large) {
    auto lines = [&](const Array<T>* a) {
        if (!a || (a->size() > max_values && !summarise_large)) {
            return std::vector<std::string>{};
        }
        return rows(*a, max_values);
    };
    const std::vector<std::string> vr = lines(value), gr = lines(grad);
    std::string label = fmt::format("<table border=\"0\" cellborder=\"0\" cellspacing=\"0\" cellpadding=\"1\">"
                                    "<tr><td colspan=\"2\">{}</td></tr>",
                                    head);
    if (!vr.empty() || !gr.empty()) {
        label += fmt::format("<tr><td align=\"left\">{}</td><td align=\"left\">{}</td></tr>", vr.empty() ? "" : "<i>value</i>",
                             gr.empty() ? "" : "<i>grad</i>");
        for (std::size_t r = 0; r < std::max(vr.size(), gr.size()); ++r) {
            label += fmt::format("<tr><td align=\"left\">{}</td><td align=\"left\">{}</td></tr>", r < vr.size() ? html(vr[r]) : "",
                                 r < gr.size() ? html(gr[r]) : "");
        }
    }
    return label + "</table>";
}

std::string dot_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out;
}

template <class T>
std::string to_dot(const Tensor<T>& root, const DotOptions& options) {
    const auto tape = tape_of(root);
    // Top to bottom, value and gradient side by side in each box, so that the 4 x 3 batch norm's
    // drawing is about as wide as it is tall and reads at its natural size on a 1280-pixel screen.
    std::string out = "digraph tape {\n  rankdir=TB;\n  ranksep=0.2;\n  nodesep=0.25;\n  fontname=\"Helvetica\";\n"
                      "  node [fontname=\"Helvetica\", fontsize=11];\n  edge [arrowsize=0.6];\n";
    if (!options.title.empty()) {
        out += fmt::format("  labelloc=t;\n  label=\"{}\";\n", dot_escape(options.title));
    }
    for (std::size_t i = 0; i < tape.size(); ++i) {
        const TensorImpl<T>& t = *tape[i].tensor;
        const Array<T>& v = t.data->array;
        const std::string label =
            box_label(fmt::format("<b>{}</b>  {} {}", html(tape[i].label), shape_str(v.shape()), dtype_name<T>()),
                      options.values ? &v : nullptr, options.grads && t.grad ? &t.grad->value() : nullptr,
                      options.max_values, false);
        // parameters blue, data white, constants grey, named intermediates yellow
        const char* fill = !t.grad_fn ? (t.requires_grad ? "lightblue" : (v.dimension() == 0 ? "gray90" : "white"))
                                      : (t.name.empty() ? "white" : "lightyellow");
        out += fmt::format("  t{} [shape=box, style=\"rounded,filled\", fillcolor={}, margin=\"0.05,0.02\", label=<{}>];\n", i,
                           fill, label);
        if (t.grad_fn) {
            const std::string& detail = t.grad_fn->detail;
            out += fmt::format("  op{} [shape=ellipse, style=filled, fillcolor=gray95, height=0.25, margin=\"0.04,0.01\", "
                               "fontsize=10, label=\"{}{}\"];\n",
                               i, dot_escape(t.grad_fn->op), detail.empty() ? "" : " " + dot_escape(detail));
            for (std::size_t in : tape[i].inputs) {
                out += fmt::format("  t{} -> op{};\n", in, i);
            }
            out += fmt::format("  op{} -> t{};\n", i, i);
        }
    }
    out += "}\n";
    return out;
}

bool have_graphviz() { return std::system("command -v dot >/dev/null 2>&1") == 0; }

Rendered render_dot(const std::string& dot_text, const std::string& base,
                    const std::vector<std::string>& formats) {
    Rendered r;
    r.dot_path = base + ".dot";
    {
        std::ofstream out(r.dot_path);
        out << dot_text;
        if (!out) {
            throw IoError(fmt::format("{}: cannot write the drawing", r.dot_path));
        }
    }
    if (!have_graphviz()) {
        r.note = fmt::format(
            "Graphviz's dot was not found, so only {} was written; render it with `dot -Tsvg {} -o "
            "{}.svg` after `apt-get install graphviz`",
            r.dot_path, r.dot_path, base);
        return r;
    }
    for (const auto& f : formats) {
        const std::string file = base + "." + f;
        const std::string cmd = fmt::format("dot -T{} {} -o {} 2>/dev/null", f, quote(r.dot_path), quote(file));
        if (std::system(cmd.c_str()) != 0) {
            throw IoError(fmt::format("{}: Graphviz's dot could not render it as {}", r.dot_path, f));
        }
        r.files.push_back(file);
    }
    return r;
}

template std::string to_dot(const Tensor<float>&, const DotOptions&);
template std::string to_dot(const Tensor<double>&, const DotOptions&);
template std::string box_label(const std::string&, const Array<float>*, const Array<float>*, std::size_t, bool);
template std::string box_label(const std::string&, const Array<double>*, const Array<double>*, std::size_t, bool);

}  // namespace tg::see
