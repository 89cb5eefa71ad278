// The norm family in the teaching tools: the textbook reading and the fused node's stages for
// layer and group norm, walkthrough/graph/trace/compare --kind, the exercise's layer- and
// group-norm starters, and train --norm / experiment norm.
#include <nlohmann/json.hpp>

#include "cli_helpers.hpp"

using tg::Array;
using tg::Shape;
using tg::see::NormCase;
using tg::see::NormKind;
using namespace tgtest;

namespace {

NormCase<double> norm_case(NormKind kind, const Shape& shape, std::size_t groups = 0, bool affine = true) {
    NormCase<double> c;
    c.kind = kind;
    c.x = tgtest::random_tensor(shape, 11).value() * 2.0 + 1.0;
    c.dy = tgtest::random_tensor(shape, 12).value();
    c.options.affine = affine;
    if (kind == NormKind::layer) {
        c.normalized_shape = {shape.back()};
    }
    c.groups = groups;
    if (affine) {
        c.gamma = Array<double>(tgtest::random_tensor(c.param_shape(), 13).value() + 1.5);
        c.beta = Array<double>(tgtest::random_tensor(c.param_shape(), 14).value());
    }
    return c;
}

std::map<std::string, Array<double>> textbook_of(const NormCase<double>& c) {
    auto norm = c.make_norm(tg::nn::BatchNormImpl::composite);
    tg::Tensor<double> x = tg::Tensor<double>(c.x, true).named("X");
    const auto trace = tg::see::trace_backward<double>(norm(x), c.dy);
    std::map<std::string, Array<double>> out;
    for (const auto& l : tg::see::textbook_lines(trace, c.kind)) {
        out[l.quantity] = l.value;
    }
    return out;
}

}  // namespace

TEST_CASE("the textbook reading of layer and group norm: its sums run over each set, its parts add up to dL/dX") {
    for (const auto& [kind, shape, groups] : {std::tuple<NormKind, Shape, std::size_t>{NormKind::layer, {4, 5}, 0},
                                              {NormKind::layer, {2, 3, 4}, 0},
                                              {NormKind::group, {3, 6}, 2},
                                              {NormKind::group, {2, 4, 3, 2}, 2}}) {
        const NormCase<double> c = norm_case(kind, shape, groups);
        const std::string title = c.title();
        CAPTURE(title);
        const auto t = textbook_of(c);
        REQUIRE(t.size() == 13);
        // the three parts of dL/dX add up to the engine's total
        Array<double> parts = t.at("dL/dX from xhat") + t.at("dL/dX from sigma2") + t.at("dL/dX from mu");
        parts.reshape(c.x.shape());
        CHECK(tgtest::max_abs_diff(parts, t.at("dL/dX")) < 1e-13);
        // dL/dmu from sigma2 is zero up to rounding: the deviations of each set sum to 0
        CHECK(xt::amax(xt::abs(t.at("dL/dmu from sigma2")))() < 1e-13);
        // one value per set
        CHECK(t.at("dL/dmu").size() == c.x.size() / c.set_size());
        // dL/dgamma sums across the sets, over the samples: sum(dy * xhat) over all but the parameters' axes
        const tg::NormGrads<double> ref =
            kind == NormKind::layer
                ? tg::layernorm_backward(c.dy, tg::layernorm_forward(c.x, *c.gamma, *c.beta, c.normalized_shape, 1e-5).second)
                : tg::groupnorm_backward(c.dy, tg::groupnorm_forward(c.x, *c.gamma, *c.beta, groups, 1e-5).second);
        CHECK(tgtest::max_abs_diff(t.at("dL/dgamma"), ref.dgamma) < 1e-13);
        CHECK(tgtest::max_abs_diff(t.at("dL/dbeta"), ref.dbeta) < 1e-13);
        CHECK(tgtest::max_abs_diff(t.at("dL/dX"), ref.dx) < 1e-13);
        // and the reading names the sets and N
        CHECK(has(c.reading(), fmt::format("N = {} values", c.set_size())));
    }
    const NormCase<double> l = norm_case(NormKind::layer, {4, 5});
    CHECK(has(l.reading(), "axis 1"));
    CHECK(has(l.reading(), "complementary axes"));
    const NormCase<double> g = norm_case(NormKind::group, {2, 4, 3, 2}, 2);
    CHECK(has(g.reading(), "C/G = 2 channels at all 6 positions"));
    CHECK(g.set_size() == 12);
    const NormCase<double> b = norm_case(NormKind::batch, {4, 3});
    CHECK(has(b.reading(), "over the batch (axis 0)"));
}

TEST_CASE("the fused layer- and group-norm node's stages equal the composite graph's quantities") {
    for (const auto& [kind, shape, groups, affine] :
         {std::tuple<NormKind, Shape, std::size_t, bool>{NormKind::layer, {4, 5}, 0, true},
          {NormKind::layer, {4, 5}, 0, false},
          {NormKind::group, {3, 6, 2}, 3, true}}) {
        const NormCase<double> c = norm_case(kind, shape, groups, affine);
        CAPTURE(c.title());
        const auto stages = tg::see::fused_stages(c);
        CHECK(stages.size() == (affine ? 10u : 8u));
        std::size_t compared = 0;
        for (const auto& s : stages) {
            CAPTURE(s.name);
            if (!s.equals.empty()) {
                ++compared;
                CHECK(s.max_abs_diff < 1e-13);
            }
        }
        CHECK(compared == (affine ? 8u : 6u));
        // the closed form's own sums: sum(dx) = 0 per set
        const Array<double>& dx = stages[7].value;
        REQUIRE(stages[7].name == "dx");
        Array<double> rows = dx;
        rows.reshape({c.x.size() / c.set_size(), c.set_size()});
        CHECK(xt::amax(xt::abs(xt::sum(rows, {1})))() < 1e-13);
    }
}

TEST_CASE("the report compares composite and fused layer and group norm, checked by central differences") {
    const NormCase<double> c = norm_case(NormKind::group, {4, 8}, 2);
    tg::see::ReportOptions o;
    o.repeats = 1;
    const tg::see::Report r = tg::see::compare_norm(c, o);
    CHECK(r.what == "group norm in 2 groups");
    std::vector<std::string> names;
    for (const auto& row : r.rows) {
        names.push_back(row.quantity);
        CAPTURE(row.quantity);
        CHECK(row.max_rel < 1e-12);
        if (row.numeric_composite) {
            CHECK(*row.numeric_composite < 1e-6);
            CHECK(*row.numeric_fused < 1e-6);
        }
    }
    CHECK(names == std::vector<std::string>{"y", "dx", "dgamma", "dbeta", "dxhat", "dsigma2", "dmu"});
    CHECK(r.fused.nodes == 1);
    CHECK(r.composite.nodes > 5);
}

TEST_CASE("walkthrough, graph, trace and compare take --kind layer and group") {
    TempDir dir;
    const Run w = tapegrad(dir, "walkthrough --kind layer --repeats 2 --out " + (dir / "w"));
    INFO(w.err);
    REQUIRE(w.code == 0);
    CHECK(fs::exists(dir / "w/layer_norm_composite.dot"));
    for (const char* part : {"Layer norm over [3], step by step", "mu = mean(X, axis [1], n = 3, keepdims)",
                             "every sum_i runs over one sample's trailing dimension (axis 1)", "N = 3 values in each of the 4 sums",
                             "sum over the samples of dL/dy (not over i)", "Composite vs fused layer norm over [3]: float64",
                             "Composite vs fused layer norm over [3]: float32"}) {
        CAPTURE(part);
        CHECK(has(w.out, part));
    }
    const Run t = tapegrad(dir, "trace --kind group --d 6 --groups 3 --impl fused --format json");
    REQUIRE(t.code == 0);
    const nlohmann::json j = nlohmann::json::parse(t.out);
    CHECK(has(j["reading"].get<std::string>(), "N = 2 values in each of the 4 x 3 = 12 sums"));
    CHECK(j["trace"]["steps"].size() == 1);
    REQUIRE(j["fused_stages"].size() == 10);
    for (const auto& s : j["fused_stages"]) {
        if (s.contains("max_abs_diff")) {
            CAPTURE(s["stage"]);
            CHECK(s["max_abs_diff"].get<double>() < 1e-13);
        }
    }
    const Run g = tapegrad(dir, "graph --kind group --d 4 --groups 2 --format json --out " + (dir / "g"));
    REQUIRE(g.code == 0);
    const nlohmann::json gj = nlohmann::json::parse(g.out);
    bool grouped = false;
    for (const auto& e : gj["tape"]) {
        grouped = grouped || e["tensor"] == "x_groups";
    }
    CHECK(grouped);
    CHECK(fs::exists(dir / "g/group_norm_composite.dot"));
    const Run c = tapegrad(dir, "compare --kind layer --n 3 --d 5 --order 2 --repeats 1 --format json");
    REQUIRE(c.code == 0);
    const nlohmann::json cj = nlohmann::json::parse(c.out);
    CHECK(cj["reports"][0]["norm"] == "layer norm over [5]");
    for (const auto& row : cj["reports"][0]["rows"]) {
        CHECK(row["max_rel_diff"].get<double>() < 1e-9);
    }
    // the page: both graphs with the reading
    const Run p = tapegrad(dir, "walkthrough --kind group --d 4 --groups 2 --repeats 1 --html " + (dir / "gn.html"));
    REQUIRE(p.code == 0);
    const std::string page = slurp(dir / "gn.html");
    CHECK(has(page, "group norm in 2 groups step by step"));
    CHECK(has(page, "every sum_i runs over one sample's group"));
}

TEST_CASE("--kind refuses what does not fit it, in one line") {
    TempDir dir;
    for (const std::string cmd : {"walkthrough", "graph", "trace", "compare"}) {
        CAPTURE(cmd);
        check_refused(tapegrad(dir, cmd + " --kind group"), "needs --groups");
        check_refused(tapegrad(dir, cmd + " --kind group --groups 2"), "do not split into 2 groups");
        check_refused(tapegrad(dir, cmd + " --kind group --d 4 --groups 4"), "a single value");
        check_refused(tapegrad(dir, cmd + " --kind layer --normalized-shape 4"), "normalized_shape");
        check_refused(tapegrad(dir, cmd + " --kind layer --normalized-shape 3,x"), "--normalized-shape must be");
        check_refused(tapegrad(dir, cmd + " --kind layer --mode eval"), "--mode eval is batch norm's");
        check_refused(tapegrad(dir, cmd + " --kind batch --groups 2"), "--groups for --kind group");
        check_refused(tapegrad(dir, cmd + " --kind instance"), "--kind", 2);
    }
    // parameters of the wrong shape for the kind
    tg::io::save_npy<double>(dir / "x.npy", tgtest::random_tensor({4, 3}, 1).value());
    tg::io::save_npy<double>(dir / "g2.npy", tgtest::random_tensor({2}, 1).value());
    check_refused(tapegrad(dir, "trace --kind layer --x " + (dir / "x.npy") + " --dy " + (dir / "x.npy") + " --gamma " +
                                    (dir / "g2.npy")),
                  "must have shape [3] for layer norm over [3]");
}

TEST_CASE("tapegrad exercise bn --kind layer and group: the starters run and the solution passes") {
    TempDir dir;
    for (const auto& [kind_, extra, starter, planted] :
         {std::tuple<std::string, std::string, std::string, std::string>{
              "layer", "", "ln_backward.py", "dmu_xhat=-(dxhat / std).sum(0, keepdims=True)"},
          {"group", " --d 6 --groups 3", "gn_backward.py", "dmu_xhat=-(dxhat.reshape(rows, G, N) / std).sum(0, keepdims=True)"}}) {
        const std::string kind = kind_;  // a local, not a structured binding, for CAPTURE
        CAPTURE(kind);
        const std::string ex = dir / ("ex_" + kind);
        const Run made = tapegrad(dir, "exercise bn --kind " + kind + extra + " --out " + ex);
        INFO(made.err);
        REQUIRE(made.code == 0);
        CHECK(has(made.out, "/" + starter));
        CHECK_FALSE(fs::exists(fs::path(ex) / "cpp"));
        REQUIRE(std::system(("/usr/bin/python3 " + ex + "/" + starter + " >/dev/null").c_str()) == 0);
        const Run unsolved = tapegrad(dir, "check --mine " + ex);
        CHECK(has(unsolved.out, "6 of 17 given"));
        CHECK(has(unsolved.out, "0 WRONG"));  // the starter's own forward pass is right
        const std::string solve = std::string(TAPEGRAD_SOURCE) + "/tests/exercises/solve.py";
        REQUIRE(std::system(("/usr/bin/python3 " + solve + " " + ex + "/" + starter + " " + ex + "/solved.py && /usr/bin/python3 " +
                             ex + "/solved.py >/dev/null")
                                .c_str()) == 0);
        const Run solved = tapegrad(dir, "check --mine " + ex);
        INFO(solved.out);
        CHECK(solved.code == 0);
        CHECK(has(solved.out, "17 of 17 given"));
        CHECK(has(solved.out, kind + " norm, N = " + (kind == "layer" ? "3" : "2")));
        // batch norm's sums in place of the set's: dL/dmu from xhat summed over the rows
        REQUIRE(std::system(("/usr/bin/python3 " + solve + " " + ex + "/" + starter + " " + ex + "/solved.py '" + planted +
                             "' && /usr/bin/python3 " + ex + "/solved.py >/dev/null")
                                .c_str()) == 0);
        const Run wrong = tapegrad(dir, "check --mine " + ex + " --format json");
        CHECK(wrong.code == 1);
        CHECK(nlohmann::json::parse(wrong.out)["first_wrong"]["quantity"] == "dL/dmu from xhat");
        CHECK(has(tapegrad(dir, "check --mine " + ex).out, "summed over other axes than this quantity's"));
    }
    check_refused(tapegrad(dir, "exercise bn --kind group --d 5 --groups 2"), "do not split into 2 groups");
    check_refused(tapegrad(dir, "exercise mlp --kind layer"), "--kind and --groups are for the bn exercise");
}

TEST_CASE("train --norm layer trains with LayerNorm; --bn stays the batch-norm shorthand") {
    TempDir dir;
    const Run r = tapegrad(dir, "train --data moons --samples 200 --hidden 8 --epochs 1 --quiet --norm layer --norm-impl composite");
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(has(r.out, "composite layer norm"));
    CHECK(has(r.out, "LayerNorm"));
    const Run b = tapegrad(dir, "train --data moons --samples 200 --hidden 8 --epochs 1 --quiet --bn fused");
    REQUIRE(b.code == 0);
    CHECK(has(b.out, "fused batch norm"));
    CHECK(has(b.out, "BatchNorm1d"));
    check_refused(tapegrad(dir, "train --data moons --norm layer --bn fused"), "give --norm or --bn, not both");
    check_refused(tapegrad(dir, "train --data moons --norm group"), "--norm", 2);
}

TEST_CASE("tapegrad experiment norm trains without normalisation, with batch norm and with layer norm") {
    TempDir dir;
    const Run r = tapegrad(dir, "experiment norm --data spirals --samples 300 --hidden 16,16 --epochs 2 --dtype f64 --log " +
                                    (dir / "exp"));
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(has(r.out, "experiment norm: float64 on spirals"));
    for (const char* row : {"| none |", "| batch |", "| layer |"}) {
        CAPTURE(row);
        CHECK(has(r.out, row));
    }
    CHECK(has(r.out, "| normalisation | final test accuracy |"));
    CHECK_FALSE(has(r.out, "largest relative weight difference"));  // different functions: no drift table
    CHECK(fs::exists(dir / "exp.layer.csv"));
}
