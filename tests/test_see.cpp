// Seeing backprop: the DOT drawing, the backward trace and its textbook reading, and the
// composite-vs-fused report, each checked against what the engine itself computed.
#include <nlohmann/json.hpp>

#include <regex>
#include <set>

#include "cli_helpers.hpp"

using tg::Array;
using tg::Tensor;
using tgtest::random_tensor;

namespace {

// y = a * b + c, everything named: the smallest graph with a shared op output and a broadcast.
struct Small {
    Tensor<double> a = Tensor<double>(Array<double>{{1., 2.}, {3., 4.}}, true).named("a");
    Tensor<double> b = Tensor<double>(Array<double>{10., 20.}, true).named("b");
    Tensor<double> c = Tensor<double>(Array<double>{{0.5, 0.5}, {0.5, 0.5}}, true).named("c");
    Tensor<double> y = ((a * b).named("ab") + c).named("y");
};

// "t3" -> "ab" from the DOT text's box labels, and the edges as (from label, to label) through ops.
std::map<std::string, std::string> dot_labels(const std::string& dot) {
    std::map<std::string, std::string> labels;
    // tensors: an HTML-like label whose name is in bold; ops: a plain label, the op's name first
    const std::regex tensor(R"re(\s*(t\d+) \[.*label=<.*?<b>([^<]+)</b>)re");
    const std::regex op(R"re(\s*(op\d+) \[.*label="([^" \\]+))re");
    std::istringstream in(dot);
    std::string line;
    std::smatch m;
    while (std::getline(in, line)) {
        if (std::regex_search(line, m, tensor) || std::regex_search(line, m, op)) {
            labels[m[1]] = m[2];
        }
    }
    return labels;
}

std::set<std::pair<std::string, std::string>> dot_edges(const std::string& dot) {
    const auto labels = dot_labels(dot);
    std::set<std::pair<std::string, std::string>> edges;
    const std::regex edge(R"(\s*(t\d+|op\d+) -> (t\d+|op\d+);)");
    std::istringstream in(dot);
    std::string line;
    std::smatch m;
    while (std::getline(in, line)) {
        if (std::regex_match(line, m, edge)) {
            edges.insert({labels.at(m[1]), labels.at(m[2])});
        }
    }
    return edges;
}

}  // namespace

TEST_CASE("the DOT drawing of a small known graph has its tensors, ops and edges in data-flow order") {
    Small g;
    const std::string dot = tg::see::to_dot(g.y);
    const auto labels = dot_labels(dot);
    std::multiset<std::string> names;
    for (const auto& [id, label] : labels) {
        names.insert(label);
    }
    CHECK(names == std::multiset<std::string>{"a", "b", "c", "ab", "y", "mul", "add"});
    const std::set<std::pair<std::string, std::string>> expected{
        {"a", "mul"}, {"b", "mul"}, {"mul", "ab"}, {"ab", "add"}, {"c", "add"}, {"add", "y"}};
    CHECK(dot_edges(dot) == expected);
    // shapes, and values of small tensors, are in the boxes
    CHECK(dot.find("[2, 2] float64") != std::string::npos);
    CHECK(dot.find("<i>value</i>") != std::string::npos);
    CHECK(dot.find("[10, 20]") != std::string::npos);
}

TEST_CASE("the DOT drawing renders with Graphviz, or says how to render it") {
    Small g;
    tgtest::TempDir dir;
    const tg::see::Rendered r = tg::see::render_dot(tg::see::to_dot(g.y), dir / "small");
    CHECK(tgtest::fs::exists(r.dot_path));
    if (tg::see::have_graphviz()) {
        REQUIRE(r.files.size() == 2);
        const std::string svg = tgtest::slurp(r.files[0]);
        CHECK(svg.find("<svg") != std::string::npos);
        CHECK(tgtest::fs::file_size(r.files[1]) > 0);
    } else {
        CHECK(r.note.find("dot -Tsvg") != std::string::npos);
    }
}

TEST_CASE("gradients show in the drawing once kept") {
    Small g;
    tg::see::retain_all_grads(g.y);
    g.y.backward(Array<double>{{1., 1.}, {1., 1.}});
    const std::string dot = tg::see::to_dot(g.y);
    // d(sum(a*b + c))/db = sum over rows of a = [4, 6]
    CHECK(dot.find("<i>grad</i>") != std::string::npos);
    CHECK(dot.find("[4, 6]") != std::string::npos);
}

TEST_CASE("the trace's contributions add up to the gradients the engine reports") {
    Tensor<double> x = random_tensor({3, 2}, 1).named("x");
    Tensor<double> w = random_tensor({2}, 2).named("w");
    Tensor<double> h = (x * w).named("h");
    Tensor<double> y = (tg::tanh(h) * x + h).named("y");  // x and h each used twice
    const Array<double> seed = random_tensor({3, 2}, 3).value();
    const auto trace = tg::see::trace_backward<double>(y, seed);
    // every leaf's reported gradient is the sum of what the steps sent it, and equals .grad
    for (const auto& [name, total] : trace.leaves) {
        const auto leaf = name;
        CAPTURE(leaf);
        Array<double> sum = xt::zeros<double>(total.shape());
        for (const auto& s : trace.steps) {
            for (const auto& c : s.sent) {
                if (c.to == name) {
                    sum += c.grad;
                }
            }
        }
        CHECK(tgtest::max_abs_diff(sum, total) < 1e-15);
    }
    CHECK(tgtest::max_abs_diff(*trace.leaf("x"), x.grad()) == 0.0);
    CHECK(tgtest::max_abs_diff(*trace.leaf("w"), w.grad()) == 0.0);
    // h and x receive two contributions each; their totals are the upstream h's step then uses
    REQUIRE(trace.accumulated.size() == 2);
    for (const auto& a : trace.accumulated) {
        CAPTURE(a.tensor);
        CHECK(a.parts.size() == 2);
        if (a.tensor == "h") {
            CHECK(tgtest::max_abs_diff(a.total, trace.step("h")->upstream) < 1e-15);
        }
    }
    CHECK(trace.step("y")->rule.find("d(a+b)") != std::string::npos);
    CHECK(trace.steps.size() == 4);
}

TEST_CASE("the trace's JSON parses and matches the engine's gradients") {
    Tensor<double> x = random_tensor({2, 3}, 4).named("x");
    Tensor<double> y = tg::sum(tg::exp(x) * x).named("y");
    const auto trace = tg::see::trace_backward<double>(y);
    const nlohmann::json j = nlohmann::json::parse(tg::see::trace_json(trace).dump());
    CHECK(j["dtype"] == "float64");
    CHECK(j["steps"].size() == trace.steps.size());
    REQUIRE(j["leaves"].size() == 1);
    CHECK(j["leaves"][0]["tensor"] == "x");
    const std::vector<double> got = j["leaves"][0]["grad"]["values"];
    REQUIRE(got.size() == 6);
    for (std::size_t i = 0; i < 6; ++i) {
        CHECK(got[i] == x.grad().data()[i]);
    }
    // large tensors are summarised, not printed
    Tensor<double> big = random_tensor({40, 40}, 5).named("big");
    const auto t2 = tg::see::trace_backward<double>(tg::sum(big * 2.0));
    const auto j2 = tg::see::trace_json(t2, 12);
    CHECK(j2["leaves"][0]["grad"].contains("summary"));
    CHECK(j2["leaves"][0]["grad"]["summary"]["mean"] == doctest::Approx(2.0));
    CHECK(tg::see::trace_text(t2).find("norm") != std::string::npos);
    CHECK(tg::see::trace_markdown(t2).find("| step |") != std::string::npos);
}

TEST_CASE("the composite batch norm's trace reads as the textbook derivation and agrees with it") {
    for (const tg::Shape& shape : {tg::Shape{4, 3}, tg::Shape{3, 2, 4}}) {
        CAPTURE(tg::shape_str(shape));
        tg::nn::BatchNormOptions o;
        o.impl = tg::nn::BatchNormImpl::composite;
        std::unique_ptr<tg::nn::BatchNorm<double>> bn = std::make_unique<tg::nn::BatchNorm1d<double>>(shape[1], o);
        bn->weight->mutable_value() = random_tensor({shape[1]}, 6, 0.5, 1.5).value();
        Tensor<double> x = random_tensor(shape, 7, -2.0, 3.0).named("X");
        const Array<double> dy = random_tensor(shape, 8).value();
        const auto trace = tg::see::trace_backward<double>((*bn)(x), dy);
        const auto lines = tg::see::textbook_lines(trace);
        std::map<std::string, Array<double>> v;
        for (const auto& l : lines) {
            v[l.quantity] = l.value;
        }
        // the three paths into X add up to the engine's dL/dX
        CHECK(tgtest::max_abs_diff(Array<double>(v["dL/dX from xhat"] + v["dL/dX from sigma2"] + v["dL/dX from mu"]), x.grad()) < 1e-14);
        CHECK(tgtest::max_abs_diff(v["dL/dX"], x.grad()) == 0.0);
        // dL/dmu from sigma2 vanishes, as the derivation says
        CHECK(xt::amax(xt::abs(v["dL/dmu from sigma2"]))() < 1e-14);
        // and the intermediate gradients equal the closed form's lines
        const auto [y, cache] = tg::batchnorm_forward(x.value(), bn->weight->value(), bn->bias->value(), tg::channel_axes(shape.size()), 1e-5);
        const auto stages = tg::batchnorm_backward_stages(dy, cache);
        Array<double> ds2 = v["dL/dsigma2"], dmu = v["dL/dmu"];
        ds2.reshape({shape[1]});
        dmu.reshape({shape[1]});
        CHECK(tgtest::rel_diff(ds2, stages.dsigma2) < 1e-12);
        CHECK(tgtest::rel_diff(dmu, stages.dmu) < 1e-12);
        CHECK(tgtest::rel_diff(v["dL/dxhat"], stages.dxhat) < 1e-15);
    }
}

TEST_CASE("the report's numbers equal independently computed differences") {
    tg::see::NormCase<double> c;
    c.x = random_tensor({6, 3}, 9, -1.0, 4.0).value();
    c.dy = random_tensor({6, 3}, 10).value();
    c.gamma = random_tensor({3}, 11, 0.5, 1.5).value();
    tg::see::ReportOptions o;
    o.repeats = 3;
    const tg::see::Report r = tg::see::compare_norm(c, o);

    // the same step through both modules, compared here by hand
    std::map<std::string, std::pair<Array<double>, Array<double>>> q;
    for (auto impl : {tg::nn::BatchNormImpl::composite, tg::nn::BatchNormImpl::fused}) {
        auto bn = c.make_module(impl);
        Tensor<double> x(c.x, true);
        Tensor<double> y = (*bn)(x);
        y.backward(c.dy);
        auto put = [&](const std::string& k, const Array<double>& a) {
            (impl == tg::nn::BatchNormImpl::composite ? q[k].first : q[k].second) = a;
        };
        put("y", y.value());
        put("dx", x.grad());
        put("dgamma", bn->weight->grad());
        put("running_var", bn->running->var.value());
    }
    std::size_t checked = 0;
    for (const auto& row : r.rows) {
        if (!q.count(row.quantity)) {
            continue;
        }
        CAPTURE(row.quantity);
        const auto& [a, b] = q.at(row.quantity);
        double max_abs = 0, rel_error = 0;
        bool exact = true;
        for (std::size_t i = 0; i < a.size(); ++i) {
            const double d = std::abs(a.data()[i] - b.data()[i]);
            max_abs = std::max(max_abs, d);
            rel_error = std::max(rel_error, d / std::max(1e-8, std::abs(a.data()[i]) + std::abs(b.data()[i])));
            exact = exact && d == 0;
        }
        CHECK(row.max_abs == max_abs);
        CHECK(row.rel_error == rel_error);
        CHECK(row.exact == exact);
        ++checked;
    }
    CHECK(checked == 4);
    // both sides' gradients pass the numerical check; intermediate rows exist
    for (const auto& row : r.rows) {
        if (row.numeric_composite) {
            CHECK(*row.numeric_composite < 1e-5);
            CHECK(*row.numeric_fused < 1e-5);
        }
    }
    std::set<std::string> quantities;
    for (const auto& row : r.rows) {
        quantities.insert(row.quantity);
    }
    CHECK(quantities == std::set<std::string>{"y", "dx", "dgamma", "dbeta", "running_mean", "running_var", "dxhat", "dsigma2", "dmu"});
    // one node against nine, and less memory held for backward
    CHECK(r.fused.nodes == 1);
    CHECK(r.composite.nodes == 9);
    CHECK(r.fused.saved_bytes < r.composite.saved_bytes);
    // the text, Markdown and JSON forms carry the same rows
    CHECK(tg::see::report_text(r).find("dsigma2") != std::string::npos);
    CHECK(tg::see::report_markdown(r).find("| dmu |") != std::string::npos);
    CHECK(nlohmann::json::parse(tg::see::report_json(r).dump())["rows"].size() == r.rows.size());
}

TEST_CASE("the saved-bytes column is smaller for fused than composite at every rank and in float32") {
    for (const tg::Shape& shape : {tg::Shape{32, 10}, tg::Shape{7, 4, 5}, tg::Shape{3, 2, 4, 4}}) {
        CAPTURE(tg::shape_str(shape));
        tg::see::NormCase<float> c;
        c.x = random_tensor<float>(shape, 12).value();
        c.dy = random_tensor<float>(shape, 13).value();
        tg::see::ReportOptions o;
        o.repeats = 1;
        o.numeric_limit = 0;
        const auto r = tg::see::compare_norm(c, o);
        CHECK(r.fused.saved_bytes < r.composite.saved_bytes);
        CHECK_FALSE(r.numeric_note.empty());
    }
}

TEST_CASE("the step-through page is one self-contained file, and summarises a graph too large to walk") {
    Tensor<double> x = random_tensor({3, 2}, 1).named("x");
    Tensor<double> y = (tg::tanh(x) * x).named("y");
    const auto trace = tg::see::trace_backward<double>(y, random_tensor({3, 2}, 2).value());
    tgtest::TempDir dir;
    tg::see::write_html(trace, dir / "page.html");
    const std::string page = tgtest::slurp(dir / "page.html");
    CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
    CHECK(page.find("<script src") == std::string::npos);  // nothing loaded from elsewhere
    CHECK(page.find("<link") == std::string::npos);
    CHECK(page.find("ArrowRight") != std::string::npos);  // the script is inline
    if (tg::see::have_graphviz()) {
        CHECK(page.find("<svg") != std::string::npos);
    }
    // the data: every step, the forward ones first
    const std::string tag = "<script id=\"data\" type=\"application/json\">";
    const std::size_t at = page.find(tag) + tag.size();
    const nlohmann::json data = nlohmann::json::parse(page.substr(at, page.find("</script>", at) - at));
    CHECK(data["tabs"][0]["steps"].size() == trace.forward.size() + trace.steps.size());
    // x is used twice: its two contributions arrive in turn and the running sum ends at .grad
    bool summed = false;
    for (const auto& s : data["tabs"][0]["steps"]) {
        for (const auto& c : s.value("sent", nlohmann::json::array())) {
            if (c["arrival"] == 2 && c["of"] == 2) {
                const auto v = c["running"]["values"].get<std::vector<double>>();
                CHECK(v == std::vector<double>(x.grad().begin(), x.grad().end()));
                summed = true;
            }
        }
    }
    CHECK(summed);
    // too large: summarised with a note, no steps to walk
    tg::see::HtmlLimits small;
    small.max_nodes = 2;
    tg::see::HtmlPage big("big", small);
    big.add_trace("graph", trace);
    const std::string b = big.str();
    CHECK(b.find("more than the page shows (2 tensors)") != std::string::npos);
}
