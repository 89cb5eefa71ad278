// The classic batch-norm experiments as a user runs them, in CI-sized runs (--quick and smaller):
// each finishes, prints its table, writes its log and figure; composite and fused Hessians agree;
// bad options are refused with one line.
#include <regex>
#include <sstream>

#include "cli_helpers.hpp"

using namespace tgtest;

namespace {

std::size_t count_lines(const std::string& text) { return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')); }

}  // namespace

TEST_CASE("experiment ioffe: accuracy and the sigmoid input's percentiles, without and with batch norm") {
    TempDir dir;
    const Run r = tapegrad(dir, "experiment ioffe --quick --quiet --steps 20 --probes 2 --train-size 120 --plot " + (dir / "f.svg"));
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("| step | test acc without BN | with BN |") != std::string::npos);
    CHECK(r.out.find("| 20 |") != std::string::npos);
    const std::string csv = slurp(dir / "f.svg.csv");
    CHECK(csv.rfind("run,step,test_acc,p15,p50,p85\n", 0) == 0);
    CHECK(count_lines(csv) == 1 + 2 * 3);  // steps 0, 10, 20 for each run
    CHECK(fs::file_size(dir / "f.svg") > 1000);
}

TEST_CASE("experiment init-scale and batch-size: one row per scale and run, figures drawn") {
    TempDir dir;
    Run r = tapegrad(dir, "experiment init-scale --quick --quiet --scales 1e-3,0.1 --epochs 1 --train-size 100 --log " +
                              (dir / "s.csv") + " --plot " + (dir / "s.png"));
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("| 1.00e-03 |") != std::string::npos);
    CHECK(count_lines(slurp(dir / "s.csv")) == 1 + 2 * 2);
    CHECK(fs::file_size(dir / "s.png") > 1000);
    r = tapegrad(dir, "experiment batch-size --quick --quiet --epochs 1 --train-size 100 --batch-sizes 5,10 --log " +
                          (dir / "b.csv"));
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("| layer norm (batch 5) |") != std::string::npos);
    CHECK(r.out.find("layer norm spans") != std::string::npos);
    CHECK(count_lines(slurp(dir / "b.csv")) == 1 + 5);  // baseline, two batch norm, two layer norm runs, one epoch
}

TEST_CASE("experiment smoothness and hessian: the probes run, composite and fused eigenvalues agree") {
    TempDir dir;
    Run r = tapegrad(dir, "experiment smoothness --quick --quiet --steps 6 --probes 2 --train-size 256 --log " + (dir / "m.csv"));
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("beta-smoothness") != std::string::npos);
    CHECK(count_lines(slurp(dir / "m.csv")) == 1 + 2 * 3);
    r = tapegrad(dir, "experiment hessian --quick --quiet --steps 4 --probes 1 --train-size 256");
    INFO(r.err);
    REQUIRE(r.code == 0);
    std::smatch m;
    const std::regex diff("largest relative difference of the top eigenvalue ([0-9.e+-]+)");
    REQUIRE(std::regex_search(r.out, m, diff));
    CHECK(std::stod(m[1]) < 1e-6);  // float64: the same function's Hessian, two graphs
    CHECK(r.out.find("Hessian-vector products") != std::string::npos);
}

TEST_CASE("the classic experiments refuse bad options with one line before reading any data") {
    TempDir dir;
    check_refused(tapegrad(dir, "experiment ioffe --steps 0"), "--steps must be at least 1");
    check_refused(tapegrad(dir, "experiment init-scale --scales 1e-3,-0.5"), "every weight scale must be a positive number");
    check_refused(tapegrad(dir, "experiment init-scale --scales 0"), "names no scale");
    check_refused(tapegrad(dir, "experiment batch-size --batch-sizes 5,2000"), "batch size 2000 does not fit 1000 training");
    check_refused(tapegrad(dir, "experiment hessian --train-size 1000 --batch-size 5000"), "larger than the 1000 training examples");
    check_refused(tapegrad(dir, "experiment smoothness --lr -1"), "--lr must be a positive number");
    check_refused(tapegrad(dir, "experiment ioffe --norm-impl both"), "--norm-impl must be composite or fused");
    check_refused(tapegrad(dir, "experiment ioffe --plot f.pdf"), "must end in .svg or .png");
    check_refused(tapegrad(dir, "experiment init-scale --epochs 0"), "--epochs must be at least 1");
    check_refused(tapegrad(dir, "experiment ioffe --data mnist"), "--data mnist needs --data-dir");
    check_refused(tapegrad(dir, "experiment ioffe --data-dir " + (dir / "none") + " --quick"), "cannot open");
}

TEST_CASE("train --diagnostics prints each layer's health and the update ratios, and draws them") {
    TempDir dir;
    const Run r = tapegrad(dir, "train --data spirals --samples 400 --hidden 16,16 --act tanh --epochs 2 --batch-size 20 "
                                "--quiet --diagnostics " + (dir / "d.svg") + " --diagnostics-every 5");
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("layer 1 (Tanh): mean") != std::string::npos);
    CHECK(r.out.find("layer 3 (Tanh): mean") != std::string::npos);
    CHECK(r.out.find("0.weight: log10(update std / data std) = ") != std::string::npos);
    const std::string csv = slurp(dir / "d.svg.csv");
    // 320 training examples in batches of 20: 16 steps an epoch, 32 in all, measured at 5, 10, ..., 30
    CHECK(count_lines(csv) == 1 + 6 * (2 + 3));  // two activation layers and three weights
    CHECK(fs::file_size(dir / "d.svg") > 1000);
    check_refused(tapegrad(dir, "train --data spirals --diagnostics d.pdf"), "--diagnostics d.pdf must end in .svg or .png");
    check_refused(tapegrad(dir, "train --data spirals --diagnostics d.svg --diagnostics-every 0"), "--diagnostics-every");
}

TEST_CASE("experiment ioffe with the composite and with the fused batch norm: the same numbers in float64") {
    TempDir dir;
    for (const char* impl : {"composite", "fused"}) {
        const Run r = tapegrad(dir, std::string("experiment ioffe --quick --quiet --steps 30 --probes 3 --train-size 240 "
                                                "--dtype f64 --norm-impl ") + impl + " --log " + (dir / impl));
        INFO(r.err);
        REQUIRE(r.code == 0);
    }
    std::istringstream a(slurp(dir / "composite")), b(slurp(dir / "fused"));
    std::size_t rows = 0;
    for (std::string la, lb; std::getline(a, la) && std::getline(b, lb); ++rows) {
        if (rows == 0) {
            continue;  // the header
        }
        std::istringstream ca(la), cb(lb);
        std::size_t column = 0;
        for (std::string x, y; std::getline(ca, x, ',') && std::getline(cb, y, ','); ++column) {
            if (column < 2) {
                CHECK(x == y);  // the run and the step
            } else {
                CAPTURE(la);
                CHECK(std::stod(x) == doctest::Approx(std::stod(y)).epsilon(1e-6));
            }
        }
    }
    CHECK(rows == 1 + 2 * 4);
}
