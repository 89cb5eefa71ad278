#include "see/html.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "io/files.hpp"
#include "see/dot.hpp"
#include "see/embedded.hpp"
#include "see/values.hpp"
#include "see/worked.hpp"

namespace tg::see {

namespace {

// page.css and page.js, embedded at build time
const EmbeddedFile assets[] = {
#include "page_assets.inc"
};

// An array for the page: every value with every digit (NaN and infinities as text, which JSON
// has no numbers for), or a summary above the limit.
template <class T>
nlohmann::json page_array(const Array<T>& a, std::size_t limit) {
    nlohmann::json j;
    j["shape"] = a.shape();
    if (a.size() > limit) {
        const Summary s = summarise(a);
        j["summary"] = {{"min", s.min}, {"max", s.max}, {"mean", s.mean}, {"norm", s.norm}};
        return j;
    }
    nlohmann::json values = nlohmann::json::array();
    for (T v : a) {
        const double d = static_cast<double>(v);
        if (std::isfinite(d)) {
            values.push_back(d);
        } else {
            values.push_back(std::isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
        }
    }
    j["values"] = values;
    return j;
}

// The graph for the page: one box per tensor, "name = op(inputs)", its shape, and its value and
// gradient as the PNG shows them (up to box_values elements in full, larger ones summarised); edges
// from inputs to results. Every digit is in the panels.
constexpr std::size_t box_values = 12;

template <class T>
std::string page_svg(const Trace<T>& trace, const std::map<std::size_t, Array<T>>& grads) {
    if (!have_graphviz()) {
        return "";
    }
    std::string dot = "digraph tape {\n  rankdir=TB;\n  ranksep=0.25;\n  nodesep=0.2;\n  bgcolor=transparent;\n"
                      "  node [fontname=\"Helvetica\", fontsize=11, shape=box, style=\"rounded,filled\"];\n"
                      "  edge [arrowsize=0.6];\n";
    for (std::size_t i = 0; i < trace.forward.size(); ++i) {
        const auto& f = trace.forward[i];
        const char* fill = f.op.empty() ? (f.requires_grad ? "lightblue" : (f.value.dimension() == 0 ? "gray90" : "white"))
                                        : "lightyellow";
        const std::string head = f.op.empty() ? f.output : f.output + " = " + f.expression;
        const auto grad = grads.find(i);
        dot += fmt::format("  t{} [fillcolor={}, margin=\"0.05,0.02\", label=<{}>];\n", i, fill,
                           box_label(fmt::format("<b>{}</b>  {}", html_escape(head), shape_str(f.value.shape())),
                                     &f.value, grad == grads.end() ? nullptr : &grad->second, box_values, true));
        for (std::size_t in : f.inputs) {
            dot += fmt::format("  t{} -> t{};\n", in, i);
        }
    }
    dot += "}\n";
    char base[] = "/tmp/tapegrad_page_XXXXXX";
    const int fd = mkstemp(base);
    if (fd < 0) {
        return "";
    }
    ::close(fd);
    std::string svg;
    try {
        const Rendered r = render_dot(dot, base, {"svg"});
        std::ifstream in(std::string(base) + ".svg");
        std::stringstream ss;
        ss << in.rdbuf();
        svg = ss.str();
    } catch (const Error&) {
        svg.clear();
    }
    for (const char* ext : {"", ".dot", ".svg"}) {
        std::filesystem::remove(std::string(base) + ext);
    }
    const std::size_t at = svg.find("<svg");
    return at == std::string::npos ? "" : svg.substr(at);
}

}  // namespace

std::string html_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '&': out += "&amp;"; break;
            case '"': out += "&quot;"; break;
            default: out += c;
        }
    }
    return out;
}

HtmlPage::HtmlPage(std::string title, HtmlLimits limits) : limits_(limits) {
    data_["title"] = std::move(title);
    data_["tabs"] = nlohmann::json::array();
}

template <class T>
void HtmlPage::add_trace(const std::string& name, const Trace<T>& trace, const std::vector<TextbookLine<T>>& textbook,
                         const std::vector<FusedStage<T>>& stages, const std::vector<std::string>& marked,
                         const std::string& reading) {
    nlohmann::json tab{{"name", name}, {"kind", "trace"}, {"dtype", dtype_name<T>()}, {"reading", reading}};
    if (trace.forward.size() > limits_.max_nodes) {
        tab["note"] = fmt::format("This graph has {} tensors and {} backward steps, more than the page shows ({} tensors): "
                                  "it is summarised here. Trace a smaller case, or read `tapegrad trace` in the terminal.",
                                  trace.forward.size(), trace.steps.size(), limits_.max_nodes);
        tab["steps"] = nlohmann::json::array();
        tab["nodes"] = nlohmann::json::array();
        data_["tabs"].push_back(tab);
        return;
    }
    const std::size_t limit = limits_.max_values;
    // the gradient of each tensor: the sum of what it received (its contributions, in order)
    std::map<std::size_t, std::size_t> count;
    for (const auto& s : trace.steps) {
        for (const auto& c : s.sent) {
            ++count[c.to_index];
        }
    }
    std::map<std::size_t, Array<T>> running;
    std::map<std::size_t, std::size_t> arrived;
    nlohmann::json steps = nlohmann::json::array();
    for (std::size_t i = 0; i < trace.forward.size(); ++i) {
        steps.push_back({{"kind", "forward"}, {"node", i}});
    }
    for (const auto& s : trace.steps) {
        nlohmann::json st{{"kind", "backward"}, {"node", s.index}, {"op", s.op}, {"rule", s.rule},
                          {"upstream", page_array(s.upstream, limit)}, {"sent", nlohmann::json::array()}};
        for (const auto& c : s.sent) {
            const std::size_t to = c.to_index;
            running[to] = arrived[to]++ == 0 ? c.grad : Array<T>(running[to] + c.grad);
            nlohmann::json sent{{"to", to}, {"grad", page_array(c.grad, limit)}, {"note", c.note}, {"arrival", arrived[to]},
                                {"of", count[to]}, {"running", page_array(running[to], limit)}};
            if (const auto w = worked_element(trace, s, c)) {  // the rule with this step's numbers, for one element
                sent["worked"] = w->text;
                sent["element"] = w->index;
            }
            st["sent"].push_back(sent);
        }
        steps.push_back(st);
    }
    nlohmann::json nodes = nlohmann::json::array();
    for (std::size_t i = 0; i < trace.forward.size(); ++i) {
        const auto& f = trace.forward[i];
        nlohmann::json n{{"label", f.output}, {"expression", f.expression}, {"op", f.op}, {"inputs", f.inputs},
                         {"value", page_array(f.value, limit)}, {"grad", nullptr}};
        if (running.count(i)) {
            n["grad"] = page_array(running[i], limit);
        }
        nodes.push_back(n);
    }
    // the root's gradient is the seed
    if (!trace.steps.empty()) {
        running[trace.steps.front().index] = trace.steps.front().upstream;
        nodes[trace.steps.front().index]["grad"] = page_array(trace.steps.front().upstream, limit);
    }
    const std::size_t forward = trace.forward.size();
    nlohmann::json book = nlohmann::json::array();
    for (const auto& l : textbook) {
        book.push_back({{"quantity", l.quantity}, {"formula", l.formula}, {"source", l.source},
                        {"value", page_array(l.value, limit)}, {"step", l.step < 0 ? 0 : forward + static_cast<std::size_t>(l.step)}});
    }
    nlohmann::json fused = nlohmann::json::array();
    for (const auto& s : stages) {
        fused.push_back({{"stage", s.name}, {"formula", s.formula}, {"value", page_array(s.value, limit)}, {"equals", s.equals},
                         {"max_abs_diff", s.max_abs_diff}});
    }
    nlohmann::json marks = nlohmann::json::array();
    for (const std::string& m : marked) {
        for (std::size_t i = 0; i < trace.forward.size(); ++i) {
            if (trace.forward[i].output == m) {
                marks.push_back(i);
            }
        }
    }
    tab["svg"] = page_svg(trace, running);
    tab["nodes"] = nodes;
    tab["steps"] = steps;
    tab["textbook"] = book;
    tab["stages"] = fused;
    tab["marked"] = marks;
    data_["tabs"].push_back(tab);
}

void HtmlPage::add_html(const std::string& name, const std::string& html) {
    data_["tabs"].push_back({{"name", name}, {"kind", "html"}, {"html", html}});
}

std::string HtmlPage::str() const {
    std::string json = data_.dump();
    // "</" would end the <script> element early
    for (std::size_t at = json.find("</"); at != std::string::npos; at = json.find("</", at + 3)) {
        json.replace(at, 2, "<\\/");
    }
    const std::string title = html_escape(data_["title"].get<std::string>());
    return fmt::format(R"page(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{0}</title>
<style>
{1}</style>
</head>
<body>
<header><h1 id="title">{0}</h1><div class="tabs"></div></header>
<main>
<div id="graph"></div>
<div id="side">
<div id="controls">
<button id="first" title="first step (Home)">|&lt;</button>
<button id="prev" title="previous step (left arrow)">&lt; prev</button>
<button id="next" title="next step (right arrow)">next &gt;</button>
<button id="last" title="last step (End)">&gt;|</button>
<span id="counter"></span>
<label title="type a step and press Enter">go to <input id="jump" type="number" min="1"></label>
</div>
<div id="panel"></div>
<div id="tensor"></div>
<div id="book"></div>
</div>
<div id="html" class="view-hidden"></div>
</main>
<script id="data" type="application/json">{2}</script>
<script>
{3}</script>
</body>
</html>
)page",
                       title, embedded(assets, "page.css"), json, embedded(assets, "page.js"));
}

void HtmlPage::write(const std::string& path) const { io::write_file_atomically(path, {str()}); }

template <class T>
void write_html(const Trace<T>& trace, const std::string& path, const std::string& title) {
    HtmlPage page(title);
    page.add_trace("graph", trace);
    page.write(path);
}

#define TG_INSTANTIATE(T)                                                                                              \
    template void HtmlPage::add_trace(const std::string&, const Trace<T>&, const std::vector<TextbookLine<T>>&,        \
                                      const std::vector<FusedStage<T>>&, const std::vector<std::string>&, const std::string&);             \
    template void write_html(const Trace<T>&, const std::string&, const std::string&);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg::see
