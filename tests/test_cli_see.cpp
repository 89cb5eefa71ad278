// The walkthrough, graph, trace and compare subcommands as a user runs them.
#include <nlohmann/json.hpp>

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
    tg::save_npy<double>(dir / "x5.npy", tgtest::random_tensor({2, 2, 2, 2, 2}, 1).value());
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
