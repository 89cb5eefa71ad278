// The walkthrough, graph, trace and compare subcommands as a user runs them.
#include <nlohmann/json.hpp>

#include <map>

#include "cli_helpers.hpp"

using tg::Array;
using namespace tgtest;

TEST_CASE("the walkthrough draws the graph, prints every backward step and the report") {
    TempDir dir;
    const Run r = tapegrad(dir, "walkthrough --out " + (dir / "w"));
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(fs::exists(dir / "w/bn_composite.dot"));
    if (tg::see::have_graphviz()) {
        CHECK(fs::exists(dir / "w/bn_composite.svg"));
    }
    for (const char* part : {"xhat = div(xc, std)", "dL/dsigma2", "dL/dmu from sigma2", "dL/dX from mu",
                             "Composite vs fused batch norm: float64", "Composite vs fused batch norm: float32",
                             "bytes held for backward"}) {
        CAPTURE(part);
        CHECK(r.out.find(part) != std::string::npos);
    }
}

TEST_CASE("trace --format json parses and its leaves match tapegrad bn's gradients") {
    TempDir dir;
    const Run t = tapegrad(dir, "trace --format json --seed 3 --n 5 --d 2 --max-values 100");
    REQUIRE(t.code == 0);
    const nlohmann::json j = nlohmann::json::parse(t.out);
    REQUIRE(j.contains("trace"));
    REQUIRE(j.contains("textbook"));
    std::vector<double> dx;
    for (const auto& leaf : j["trace"]["leaves"]) {
        if (leaf["tensor"] == "X") {
            dx = leaf["grad"]["values"].get<std::vector<double>>();
        }
    }
    REQUIRE(dx.size() == 10);
    // the fused node on the same seeded input, through the graph subcommand's JSON tape
    const Run g = tapegrad(dir, "graph --format json --impl fused --seed 3 --n 5 --d 2 --out " + (dir / "g"));
    REQUIRE(g.code == 0);
    const nlohmann::json gj = nlohmann::json::parse(g.out);
    CHECK(gj["tape"].back()["op"] == "batch_norm");
    CHECK(gj["tape"].back()["inputs"].size() == 3);
}

TEST_CASE("compare --format md and json carry both dtypes") {
    TempDir dir;
    const Run md = tapegrad(dir, "compare --format md --repeats 2");
    REQUIRE(md.code == 0);
    CHECK(md.out.find("| dx |") != std::string::npos);
    const Run js = tapegrad(dir, "compare --format json --repeats 2");
    REQUIRE(js.code == 0);
    const nlohmann::json j = nlohmann::json::parse(js.out);
    REQUIRE(j["reports"].size() == 2);
    CHECK(j["reports"][0]["dtype"] == "float64");
    CHECK(j["reports"][1]["dtype"] == "float32");
    CHECK(j["reports"][0]["fused"]["saved_bytes"] < j["reports"][0]["composite"]["saved_bytes"]);
}

TEST_CASE("every see subcommand refuses an unknown option, a bad shape and an unreadable file") {
    TempDir dir;
    tg::io::save_npy<double>(dir / "x5.npy", tgtest::random_tensor({2, 2, 2, 2, 2}, 1).value());
    std::ofstream(dir / "junk.npy") << "not numpy";
    for (const std::string cmd : {"walkthrough", "graph", "trace", "compare"}) {
        CAPTURE(cmd);
        check_refused(tapegrad(dir, cmd + " --frobnicate"), "frobnicate", 2);
        check_refused(tapegrad(dir, cmd + " --format yaml"), "--format", 2);
        check_refused(tapegrad(dir, cmd + " --x " + (dir / "x5.npy") + " --dy " + (dir / "x5.npy")), "rank");
        check_refused(tapegrad(dir, cmd + " --x " + (dir / "junk.npy") + " --dy " + (dir / "junk.npy")), "not a valid .npy");
        check_refused(tapegrad(dir, cmd + " --x " + (dir / "missing.npy") + " --dy " + (dir / "missing.npy")), "cannot open");
        check_refused(tapegrad(dir, cmd + " --n 0"), "at least 1");
    }
}

TEST_CASE("the trace shows the forward pass with its values, reduction axes, exponents and broadcast sums") {
    TempDir dir;
    const Run t = tapegrad(dir, "trace");
    REQUIRE(t.code == 0);
    for (const char* part : {"Forward pass (float64): 13 steps", "mu     = mean(X, axis [0], n = 4)", "pow_1  = pow(xc, 2)",
                             "sigma2 = mean(pow_1, axis [0], n = 4)", "(summed over axis 0, N = 4)",
                             "Backward trace (float64): 9 steps"}) {
        CAPTURE(part);
        CHECK(has(t.out, part));
    }
    // the JSON carries the forward values too: mu is the column means of X
    const nlohmann::json j = nlohmann::json::parse(tapegrad(dir, "trace --format json").out);
    std::map<std::string, std::vector<double>> fwd;
    for (const auto& f : j["trace"]["forward"]) {
        fwd[f["output"]] = f["value"]["values"].get<std::vector<double>>();
    }
    REQUIRE(fwd.count("X"));
    REQUIRE(fwd.count("mu"));
    for (std::size_t c = 0; c < 3; ++c) {
        const double m = (fwd["X"][c] + fwd["X"][3 + c] + fwd["X"][6 + c] + fwd["X"][9 + c]) / 4;
        CHECK(std::abs(fwd["mu"][c] - m) < 1e-15);
    }
    // every textbook line names the engine step it comes from
    for (const auto& line : j["textbook"]) {
        CAPTURE(line["quantity"]);
        CHECK(!line["source"].get<std::string>().empty());
    }
    CHECK(has(t.out, "from the part of dL/dxc that step [3] (xhat = div(xc, std)) sends"));
}

TEST_CASE("trace --impl fused opens the node: its stages equal the composite quantities, one step said as one") {
    TempDir dir;
    const Run t = tapegrad(dir, "trace --impl fused");
    REQUIRE(t.code == 0);
    CHECK(has(t.out, "Backward trace (float64): 1 step, "));
    CHECK(has(t.out, "[1] y = batch_norm(X, gamma, beta)"));
    for (const char* part : {"equals the composite graph's dL/dbeta", "equals the composite graph's dL/dX from xhat",
                             "equals the composite graph's dL/dX from mu", "equals the composite graph's dL/dX from sigma2",
                             "equals the composite graph's 1 / std"}) {
        CAPTURE(part);
        CHECK(has(t.out, part));
    }
    const nlohmann::json j = nlohmann::json::parse(tapegrad(dir, "trace --impl fused --format json").out);
    REQUIRE(j["fused_stages"].size() == 7);
    for (const auto& s : j["fused_stages"]) {
        CAPTURE(s["stage"]);
        CHECK(s["max_abs_diff"].get<double>() < 1e-14);
    }
    // and the walkthrough does what --impl says
    const Run w = tapegrad(dir, "walkthrough --impl fused --out " + (dir / "w"));
    REQUIRE(w.code == 0);
    CHECK(fs::exists(dir / "w/bn_fused.dot"));
    CHECK(has(w.out, "Inside the fused node"));
}

TEST_CASE("--save-input writes the case, and feeding it back gives the same trace") {
    TempDir dir;
    const Run a = tapegrad(dir, "trace --format json --seed 5 --n 3 --d 2 --save-input " + (dir / "in"));
    REQUIRE(a.code == 0);
    const std::string in = dir / "in";
    const Run b = tapegrad(dir, "trace --format json --x " + in + "/x.npy --dy " + in + "/dy.npy --gamma " + in +
                                    "/gamma.npy --beta " + in + "/beta.npy");
    REQUIRE(b.code == 0);
    CHECK(nlohmann::json::parse(a.out) == nlohmann::json::parse(b.out));
}

TEST_CASE("rough edges: a missing --dy is named with its command; no-affine and 4-D textbooks say what they show") {
    TempDir dir;
    tg::io::save_npy<double>(dir / "x.npy", tgtest::random_tensor({4, 3}, 1).value());
    check_refused(tapegrad(dir, "trace --x " + (dir / "x.npy")), "trace: --dy is missing");
    const Run na = tapegrad(dir, "trace --no-affine");
    REQUIRE(na.code == 0);
    CHECK(has(na.out, "dL/dxhat            dL/dy (no gamma and beta: xhat is the output)"));
    CHECK(!has(na.out, "dL/dy * gamma"));
    // 4-D input: every per-feature quantity is shown as [C], like dL/dgamma
    tg::io::save_npy<double>(dir / "x4.npy", tgtest::random_tensor({2, 3, 2, 2}, 2).value());
    tg::io::save_npy<double>(dir / "dy4.npy", tgtest::random_tensor({2, 3, 2, 2}, 3).value());
    const nlohmann::json j =
        nlohmann::json::parse(tapegrad(dir, "trace --format json --x " + (dir / "x4.npy") + " --dy " + (dir / "dy4.npy")).out);
    for (const auto& line : j["textbook"]) {
        const std::string q = line["quantity"];
        if (q == "dL/dgamma" || q == "dL/dstd" || q == "dL/dsigma2" || q == "dL/dmu" || q == "dL/dmu from xhat") {
            CAPTURE(q);
            CHECK(line["value"]["shape"] == nlohmann::json::array({3}));
        }
    }
    // the demo prints matrices with their shape
    CHECK(has(tapegrad(dir, "demo").out, "dL/dW   = [3, 2] [["));
}

TEST_CASE("the 4 x 3 batch-norm drawing reads at its natural size on a 1280-pixel screen") {
    if (!tg::see::have_graphviz()) {
        FAIL("Graphviz is needed: scripts/install-deps.sh installs it");
    }
    TempDir dir;
    REQUIRE(tapegrad(dir, "graph --out " + (dir / "g")).code == 0);
    std::ifstream png(dir / "g/bn_composite.png", std::ios::binary);
    unsigned char header[24] = {};
    png.read(reinterpret_cast<char*>(header), 24);
    auto be32 = [&](int at) { return (header[at] << 24) | (header[at + 1] << 16) | (header[at + 2] << 8) | header[at + 3]; };
    const int width = be32(16), height = be32(20);  // the PNG's IHDR
    CAPTURE(width);
    CAPTURE(height);
    CHECK(width <= 1280);
    CHECK(height <= 2 * width);  // was 640 x 2660
}

TEST_CASE("no option is silently ignored: trace and compare write no drawing, compare runs both implementations") {
    TempDir dir;
    check_refused(tapegrad(dir, "trace --out " + (dir / "o")), "--out", 2);
    check_refused(tapegrad(dir, "compare --out " + (dir / "o")), "--out", 2);
    check_refused(tapegrad(dir, "compare --impl fused"), "--impl", 2);
}
