#include "cli/see.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "tapegrad.hpp"

namespace tgcli {

using tg::Tensor;
using nlohmann::json;

namespace {

void add_common(CLI::App* cmd, SeeArgs& a, const char* default_impl, bool report_options, bool html_format = false) {
    a.norm.bn.impl = default_impl;
    a.norm.bn.command = cmd->get_name();
    add_bn_options(cmd, a.norm.bn, false);
    add_kind_options(cmd, a.norm);
    cmd->add_option("--save-input", a.save_input,
                    "also write the case's x, dy, gamma and beta as .npy files into this folder (to redo it by hand, "
                    "or to feed it back with --x --dy --gamma --beta)");
    cmd->add_option("--format", a.format,
                    html_format ? "text (aligned, for the terminal), md (Markdown), json, or html (a page to step "
                                  "through in a browser, on standard output)"
                                : "text (aligned, for the terminal), md (Markdown) or json")
        ->check(html_format ? CLI::IsMember({"text", "md", "json", "html"}) : CLI::IsMember({"text", "md", "json"}))
        ->capture_default_str();
    cmd->add_option("--max-values", a.max_values,
                    "print tensors of up to this many values in full, larger ones as shape, min, max, mean, norm")
        ->capture_default_str();
    if (report_options) {
        cmd->add_option("--repeats", a.repeats, "timed forward+backward runs per implementation (the median is shown)")
            ->capture_default_str()
            ->check(CLI::Range(1, 100000));
        cmd->add_option("--numeric-limit", a.numeric_limit,
                        "check gradients by central differences only when X has at most this many elements")
            ->capture_default_str();
    }
}

// The module's forward on the case's input, named as the textbook names it.
template <class T>
struct Forward {
    tg::see::NormModule<T> norm;
    Tensor<T> x;
    Tensor<T> y;
};

template <class T>
Forward<T> forward(const tg::see::NormCase<T>& c, tg::nn::BatchNormImpl impl) {
    Forward<T> f;
    f.norm = c.make_norm(impl);
    f.x = Tensor<T>(c.x, true).named("X");
    f.y = f.norm(f.x);
    if (f.y.name().empty() && f.y.grad_fn()) {
        const std::string op = f.y.grad_fn()->op;
        if (op == "batch_norm" || op == "layer_norm" || op == "group_norm") {
            f.y = f.y.named("y");  // the fused node's output is the textbook's y
        }
    }
    return f;
}

// The textbook's reading exists for a composite graph normalising with batch statistics.
template <class T>
bool reads_as_textbook(const tg::see::NormCase<T>& c, tg::nn::BatchNormImpl impl) {
    return impl == tg::nn::BatchNormImpl::composite && c.batch_statistics();
}

// "batch norm" -> "Batch norm"
std::string capitalised(std::string s) {
    if (!s.empty()) {
        s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
    }
    return s;
}

template <class T>
std::string mode_suffix(const tg::see::NormCase<T>& c) {
    return c.kind == tg::see::NormKind::batch ? (c.training ? ", training mode" : ", evaluation mode") : "";
}

// Output files' base name: bn_composite for batch norm, layer_norm_fused, group_norm_composite, ...
template <class T>
std::string file_base(const tg::see::NormCase<T>& c, tg::nn::BatchNormImpl impl) {
    return c.kind == tg::see::NormKind::batch ? fmt::format("bn_{}", tg::nn::to_string(impl))
                                              : fmt::format("{}_norm_{}", tg::see::to_string(c.kind), tg::nn::to_string(impl));
}

// --save-input: the case as .npy files, parameters at their defaults when not given.
template <class T>
void save_input(const SeeArgs& a, const tg::see::NormCase<T>& c) {
    if (a.save_input.empty()) {
        return;
    }
    const std::filesystem::path dir(a.save_input);
    std::filesystem::create_directories(dir);
    tg::io::save_npy((dir / "x.npy").string(), c.x);
    tg::io::save_npy((dir / "dy.npy").string(), c.dy);
    tg::io::save_npy((dir / "gamma.npy").string(), c.gamma_or_ones());
    tg::io::save_npy((dir / "beta.npy").string(), c.beta_or_zeros());
}

template <class T>
tg::see::NormCase<T> load(const SeeArgs& a) {
    tg::see::NormCase<T> c = load_norm_case<T>(a.norm);
    save_input(a, c);
    return c;
}

tg::nn::BatchNormImpl impl_of(const SeeArgs& a) {
    return a.norm.bn.impl == "composite" ? tg::nn::BatchNormImpl::composite : tg::nn::BatchNormImpl::fused;
}

// Runs backward on f with every gradient kept and draws its graph into --out.
template <class T>
tg::see::Rendered draw_graph(const SeeArgs& a, const tg::see::NormCase<T>& c, tg::nn::BatchNormImpl impl, Forward<T>& f) {
    tg::see::retain_all_grads(f.y);
    f.y.backward(c.dy);
    tg::see::DotOptions o;
    o.max_values = a.max_values;
    o.title = fmt::format("{} {}, {} {}{}", tg::nn::to_string(impl), c.title(), tg::dtype_name<T>(),
                          tg::shape_str(f.x.shape()), mode_suffix(c));
    std::filesystem::create_directories(a.norm.bn.out);
    const std::string base = (std::filesystem::path(a.norm.bn.out) / file_base(c, impl)).string();
    return tg::see::render_dot(tg::see::to_dot(f.y, o), base);
}

json rendered_json(const tg::see::Rendered& r) {
    json j{{"dot", r.dot_path}, {"files", r.files}};
    if (!r.note.empty()) {
        j["note"] = r.note;
    }
    return j;
}

std::string rendered_text(const tg::see::Rendered& r, bool markdown) {
    std::string out;
    if (markdown) {
        for (const auto& f : r.files) {
            if (f.size() > 4 && f.substr(f.size() - 4) == ".svg") {
                out += fmt::format("![the graph]({})\n\n", f);
            }
        }
    }
    out += fmt::format("Graph written to {}", r.dot_path);
    for (const auto& f : r.files) {
        out += ", " + f;
    }
    out += "\n";
    if (!r.note.empty()) {
        out += r.note + "\n";
    }
    return out;
}

template <class T>
int graph(const SeeArgs& a) {
    const auto c = load<T>(a);
    const auto impl = impl_of(a);
    Forward<T> f = forward(c, impl);
    const tg::see::Rendered r = draw_graph(a, c, impl, f);
    // the same tape, as a flat list in the order it was recorded
    const auto tape = tg::see::tape_of(f.y);
    if (a.format == "json") {
        json j{{"graph", rendered_json(r)}, {"tape", json::array()}};
        for (std::size_t i = 0; i < tape.size(); ++i) {
            json inputs = json::array();
            for (std::size_t in : tape[i].inputs) {
                inputs.push_back(tape[in].label);
            }
            j["tape"].push_back({{"tensor", tape[i].label},
                                 {"op", tape[i].tensor->grad_fn ? tape[i].tensor->grad_fn->op : ""},
                                 {"inputs", inputs},
                                 {"shape", tape[i].tensor->data->array.shape()}});
        }
        fmt::print("{}\n", j.dump(2));
        return 0;
    }
    const bool md = a.format == "md";
    fmt::print("{}", rendered_text(r, md));
    fmt::print(md ? "\n| # | tensor | computed as | shape |\n|---|---|---|---|\n" : "\nThe tape, in the order it was recorded:\n");
    for (std::size_t i = 0; i < tape.size(); ++i) {
        const std::string shape = tg::shape_str(tape[i].tensor->data->array.shape());
        const std::string expr = tape[i].tensor->grad_fn ? tg::see::expression_of(tape, i) : "(leaf)";
        if (md) {
            fmt::print("| {} | {} | `{}` | {} |\n", i + 1, tape[i].label, expr, shape);
        } else {
            fmt::print("  {:>3}  {:<10} = {:<28} {}\n", i + 1, tape[i].label, expr, shape);
        }
    }
    return 0;
}

// The trace, and for a training-mode composite, the textbook's reading of it.
template <class T>
json trace_into(const SeeArgs& a, const tg::see::NormCase<T>& c, tg::nn::BatchNormImpl impl, std::string& text) {
    Forward<T> f = forward(c, impl);
    const tg::see::Trace<T> trace = tg::see::trace_backward<T>(f.y, c.dy);
    const bool textbook = reads_as_textbook(c, impl);
    json j{{"trace", tg::see::trace_json(trace, a.max_values)}};
    if (a.format == "md") {
        text += tg::see::trace_markdown(trace, a.max_values);
    } else if (a.format == "text") {
        text += tg::see::trace_text(trace, a.max_values);
    }
    // a section in every format: its JSON under `key`, its text in the chosen format
    auto section = [&](const char* key, json value, const std::string& md, const std::string& plain) {
        j[key] = std::move(value);
        text += "\n" + (a.format == "md" ? md : a.format == "text" ? plain : std::string());
    };
    if (impl == tg::nn::BatchNormImpl::fused) {
        const auto stages = tg::see::fused_stages(c);
        const std::string reading = c.batch_statistics() ? c.reading() + "\n\n" : std::string();
        section("fused_stages", tg::see::fused_stages_json(stages, a.max_values),
                reading + tg::see::fused_stages_markdown(stages, a.max_values),
                reading + tg::see::fused_stages_text(stages, a.max_values));
    }
    if (textbook) {
        const auto lines = tg::see::textbook_lines(trace, c.kind);
        section("textbook", tg::see::textbook_json(lines, a.max_values),
                "### The same steps in the textbook's notation\n\n" + c.reading() + "\n\n" +
                    tg::see::textbook_markdown(lines, a.max_values),
                c.reading() + "\n\n" + tg::see::textbook_text(lines, a.max_values));
    }
    if (c.batch_statistics()) {
        j["reading"] = c.reading();
    }
    return j;
}

// A trace tab for the page: the graph of `impl` on the case, with the textbook reading (composite,
// training) or the fused node's stages.
template <class T>
void add_trace_tab(tg::see::HtmlPage& page, const tg::see::NormCase<T>& c, tg::nn::BatchNormImpl impl) {
    Forward<T> f = forward(c, impl);
    const tg::see::Trace<T> trace = tg::see::trace_backward<T>(f.y, c.dy);
    std::vector<tg::see::TextbookLine<T>> lines;
    std::vector<tg::see::FusedStage<T>> stages;
    if (reads_as_textbook(c, impl)) {
        lines = tg::see::textbook_lines(trace, c.kind);
    }
    if (impl == tg::nn::BatchNormImpl::fused) {
        stages = tg::see::fused_stages(c);
    }
    page.add_trace(tg::nn::to_string(impl), trace, lines, stages, {}, c.batch_statistics() ? c.reading() : "");
}

template <class T>
std::string page_title(const tg::see::NormCase<T>& c) {
    return fmt::format("tapegrad: {} step by step, {} {}{}", c.title(), tg::dtype_name<T>(),
                       tg::shape_str(c.x.shape()), mode_suffix(c));
}

template <class T>
void add_report_tab(tg::see::HtmlPage& page, const SeeArgs& a, const tg::see::NormCase<T>& c) {
    tg::see::ReportOptions o;
    o.repeats = a.repeats;
    o.numeric_limit = a.numeric_limit;
    page.add_html("compare", tg::see::report_html(tg::see::compare_norm(c.template as<double>(), o)) +
                                 tg::see::report_html(tg::see::compare_norm(c.template as<float>(), o)));
}

template <class T>
int trace(const SeeArgs& a) {
    const auto c = load<T>(a);
    if (a.format == "html") {
        tg::see::HtmlPage page(page_title(c));
        add_trace_tab(page, c, impl_of(a));
        fmt::print("{}", page.str());
        return 0;
    }
    std::string text;
    const json j = trace_into(a, c, impl_of(a), text);
    fmt::print("{}", a.format == "json" ? j.dump(2) + "\n" : text);
    return 0;
}

// Reports for float64 and float32 (the case converted), each in the chosen format.
template <class T>
json reports_into(const SeeArgs& a, const tg::see::NormCase<T>& c, std::string& text) {
    tg::see::ReportOptions o;
    o.repeats = a.repeats;
    o.numeric_limit = a.numeric_limit;
    json all = json::array();
    for (const tg::see::Report& r : {tg::see::compare_norm(c.template as<double>(), o),
                                     tg::see::compare_norm(c.template as<float>(), o)}) {
        all.push_back(tg::see::report_json(r));
        text += (a.format == "md" ? tg::see::report_markdown(r) : tg::see::report_text(r)) + "\n";
    }
    return all;
}

// The order-2 or order-3 reports, for float64 and float32.
template <class T>
int compare_orders(const SeeArgs& a, const tg::see::NormCase<T>& c) {
    if (a.format == "html") {
        throw tg::ValueError(fmt::format("compare: --order {} prints text, md or json; the HTML page shows the first order "
                                         "(leave --order out)", a.order));
    }
    tg::see::ReportOptions o;
    o.repeats = a.repeats;
    o.numeric_limit = a.numeric_limit;
    json all = json::array();
    std::string text;
    for (const tg::see::OrderReport& r : {tg::see::compare_orders(c.template as<double>(), a.order, o),
                                          tg::see::compare_orders(c.template as<float>(), a.order, o)}) {
        all.push_back(tg::see::order_report_json(r));
        text += (a.format == "md" ? tg::see::order_report_markdown(r) : tg::see::order_report_text(r)) + "\n";
    }
    fmt::print("{}", a.format == "json" ? json{{"reports", all}}.dump(2) + "\n" : text);
    return 0;
}

template <class T>
int compare(const SeeArgs& a) {
    const auto c = load<T>(a);
    if (a.order != 1) {
        return compare_orders(a, c);
    }
    if (a.format == "html") {
        tg::see::HtmlPage page(page_title(c));
        add_report_tab(page, a, c);
        add_trace_tab(page, c, tg::nn::BatchNormImpl::composite);
        add_trace_tab(page, c, tg::nn::BatchNormImpl::fused);
        fmt::print("{}", page.str());
        return 0;
    }
    std::string text;
    const json j = reports_into(a, c, text);
    fmt::print("{}", a.format == "json" ? json{{"reports", j}}.dump(2) + "\n" : text);
    return 0;
}

template <class T>
int walkthrough(const SeeArgs& a) {
    const auto c = load<T>(a);
    if (!a.html.empty()) {
        tg::see::HtmlPage page(page_title(c));
        const bool fused_first = impl_of(a) == tg::nn::BatchNormImpl::fused;
        add_trace_tab(page, c, fused_first ? tg::nn::BatchNormImpl::fused : tg::nn::BatchNormImpl::composite);
        add_trace_tab(page, c, fused_first ? tg::nn::BatchNormImpl::composite : tg::nn::BatchNormImpl::fused);
        add_report_tab(page, a, c);
        page.write(a.html);
        fmt::print("Wrote {}: open it in a browser (it needs no network) and step through the graph with the arrow keys.\n",
                   a.html);
        return 0;
    }
    const auto impl = impl_of(a);
    Forward<T> drawn = forward(c, impl);
    const tg::see::Rendered r = draw_graph(a, c, impl, drawn);
    std::string trace_text_out, report_text_out;
    const json trace = trace_into(a, c, impl, trace_text_out);
    const json reports = reports_into(a, c, report_text_out);
    if (a.format == "json") {
        fmt::print("{}\n", json{{"graph", rendered_json(r)}, {"trace", trace["trace"]},
                                {"textbook", trace.value("textbook", json())}, {"reports", reports}}
                               .dump(2));
        return 0;
    }
    const bool md = a.format == "md";
    const std::string rule = md ? "\n---\n\n" : "\n" + std::string(78, '=') + "\n\n";
    fmt::print("{}{}, step by step: {}\n", md ? "## " : "", capitalised(c.title()),
               impl == tg::nn::BatchNormImpl::composite
                   ? "the composite graph of primitives, its backward pass, and the fused node it must agree with"
                   : "the fused node, its closed-form backward stage by stage, and the composite graph it must agree "
                     "with");
    const bool random = a.norm.bn.x.empty();
    auto origin = [&](const std::string& file, const char* option) {
        return !file.empty() ? fmt::format("from {} {}", option, file) : random ? std::string("random") : std::string();
    };
    fmt::print("\nX is {} {} ({}), eps = {}. The case, in full:\n", tg::dtype_name<T>(), tg::shape_str(c.x.shape()),
               random ? fmt::format("random, seed {}", a.norm.bn.seed) : "from --x " + a.norm.bn.x, c.options.eps);
    constexpr std::size_t all = 4096;  // the given data in full, so that every step can be redone by hand
    fmt::print("  dL/dy = {}\n", tg::see::show(c.dy, all));
    if (c.options.affine) {
        fmt::print("  gamma = {}   ({})\n  beta  = {}   ({})\n", tg::see::show(c.gamma_or_ones(), all),
                   c.gamma ? origin(a.norm.bn.gamma, "--gamma") : "ones", tg::see::show(c.beta_or_zeros(), all),
                   c.beta ? origin(a.norm.bn.beta, "--beta") : "zeros");
    }
    fmt::print("{}{}1. The graph: every box a tensor, every ellipse an op\n\n{}", rule, md ? "### " : "",
               rendered_text(r, md));
    fmt::print("{}{}2. Forward, then backward, node by node\n\n{}", rule, md ? "### " : "", trace_text_out);
    fmt::print("{}{}3. Composite vs fused: the same numbers, fewer nodes, less memory, less time\n\n{}", rule,
               md ? "### " : "", report_text_out);
    return 0;
}

template <int (*F32)(const SeeArgs&), int (*F64)(const SeeArgs&)>
int dispatch(const SeeArgs& a) {
    return case_dtype(a.norm.bn) == "float32" ? F32(a) : F64(a);
}

void check_see_args(const SeeArgs& a) { check_norm_args(a.norm); }

}  // namespace

Command walkthrough_command(CLI::App& app) {
    auto* cmd = app.add_subcommand(
        "walkthrough",
        "the main job: the batch-norm graph (--impl, default composite; --kind layer or group for the others) drawn "
        "as SVG into --out, its forward "
        "and backward pass step by step, and the composite-vs-fused report (default: a seeded random 4 x 3 input)");
    return make_command(
        cmd, std::make_shared<SeeArgs>(),
        [](CLI::App* cmd, SeeArgs& a) {
            add_common(cmd, a, "composite", true);
            cmd->add_option("--html", a.html,
                            "write the walkthrough as one self-contained page to this file instead: step through the "
                            "composite and fused graphs in a browser, forward and backward, with every value");
        },
        check_see_args, dispatch<walkthrough<float>, walkthrough<double>>);
}

Command graph_command(CLI::App& app) {
    auto* cmd = app.add_subcommand("graph", "draw the batch-norm graph (--impl; --kind layer or group) as DOT, SVG and PNG into --out, "
                                            "and print the tape");
    return make_command(
        cmd, std::make_shared<SeeArgs>(), [](CLI::App* cmd, SeeArgs& a) { add_common(cmd, a, "composite", false); },
        check_see_args, dispatch<graph<float>, graph<double>>);
}

Command trace_command(CLI::App& app) {
    auto* cmd = app.add_subcommand("trace", "print the forward pass of batch norm (--impl; --kind layer or group) with every value, then the "
                                            "backward pass node by node; for the composite, also in the textbook's "
                                            "notation; for the fused node, its closed form stage by stage");
    return make_command(
        cmd, std::make_shared<SeeArgs>(),
        [](CLI::App* cmd, SeeArgs& a) {
            add_common(cmd, a, "composite", false, true);
            cmd->remove_option(cmd->get_option("--out"));  // it writes no file (but --save-input)
        },
        check_see_args, dispatch<trace<float>, trace<double>>);
}

Command compare_command(CLI::App& app) {
    auto* cmd = app.add_subcommand("compare", "compare composite and fused batch norm (--kind layer or group) on the same input: every "
                                              "quantity, numerical gradient checks, nodes, memory and time, in "
                                              "float64 and float32");
    return make_command(
        cmd, std::make_shared<SeeArgs>(),
        [](CLI::App* cmd, SeeArgs& a) {
            add_common(cmd, a, "composite", true, true);
            cmd->remove_option(cmd->get_option("--out"));   // it writes no file (but --save-input)
            cmd->remove_option(cmd->get_option("--impl"));  // it runs both
            cmd->add_option("--order", a.order,
                            "1: the gradients (default); 2: Hessian-vector products, d/dx and d/dgamma of <dx, v>; 3: "
                            "third derivatives along two directions; orders 2 and 3 are checked against central "
                            "differences of the order below")
                ->check(CLI::Range(1, 3));
        },
        check_see_args, dispatch<compare<float>, compare<double>>);
}

}  // namespace tgcli
