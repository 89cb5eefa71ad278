// `tapegrad bn` as a user runs it: the program on .npy files, checked against PyTorch's recorded
// numbers, and every rejected input answered with one line on stderr and a non-zero exit.
#include "cli_helpers.hpp"

using tg::Array;
namespace fs = std::filesystem;

namespace {

using namespace tgtest;

const fs::path cli_bn_fixtures = fs::path(TAPEGRAD_FIXTURES) / "bn";

std::string fx(const std::string& c, const std::string& name) { return (cli_bn_fixtures / c / (name + ".npy")).string(); }

}  // namespace

TEST_CASE("tapegrad bn reproduces PyTorch's steps, passing the running statistics from one to the next") {
    for (const std::string impl : {"composite", "fused"}) {
        CAPTURE(impl);
        TempDir dir;
        const std::string c = "bn1d_3d";
        // the second training step, starting from the buffers PyTorch had after the first
        Run r = tapegrad(dir, "bn --impl " + impl + " --x " + fx(c, "x1") + " --dy " + fx(c, "dy1") +
                                  " --gamma " + fx(c, "gamma_init") + " --beta " + fx(c, "beta_init") +
                                  " --running-mean " + fx(c, "running_mean0") + " --running-var " +
                                  fx(c, "running_var0") + " --num-batches-tracked 1 --out " + (dir / "o"));
        INFO(r.err);
        REQUIRE(r.code == 0);
        for (const auto& [mine, theirs] : std::vector<std::pair<std::string, std::string>>{
                 {"y", "y1"}, {"dx", "dx1"}, {"dgamma", "dgamma1"}, {"dbeta", "dbeta1"},
                 {"running_mean", "running_mean1"}, {"running_var", "running_var1"}}) {
            const std::string quantity = mine;
            CAPTURE(quantity);
            CHECK(tgtest::rel_diff(tg::io::load_npy<double>(dir / ("o/" + mine + ".npy")), tg::io::load_npy<double>(fx(c, theirs))) < 1e-10);
        }
        CHECK(tg::io::load_npy<std::int64_t>(dir / "o/num_batches_tracked.npy")() == 2);
        // evaluation with the buffers after the third step
        r = tapegrad(dir, "bn --mode eval --impl " + impl + " --x " + fx(c, "xe") + " --dy " + fx(c, "dye") +
                              " --gamma " + fx(c, "gamma_init") + " --beta " + fx(c, "beta_init") +
                              " --running-mean " + fx(c, "running_mean2") + " --running-var " +
                              fx(c, "running_var2") + " --out " + (dir / "e"));
        REQUIRE(r.code == 0);
        CHECK(tgtest::rel_diff(tg::io::load_npy<double>(dir / "e/y.npy"), tg::io::load_npy<double>(fx(c, "ye"))) < 1e-10);
        CHECK(tgtest::rel_diff(tg::io::load_npy<double>(dir / "e/dx.npy"), tg::io::load_npy<double>(fx(c, "dxe"))) < 1e-10);
        CHECK_FALSE(fs::exists(dir / "e/running_mean.npy"));
    }
}

TEST_CASE("tapegrad bn handles float32, the cumulative average, no affine and the cs231n convention") {
    TempDir dir;
    SUBCASE("float32 BatchNorm2d") {
        const std::string c = "f32_bn2d";
        Run r = tapegrad(dir, "bn --x " + fx(c, "x0") + " --dy " + fx(c, "dy0") + " --gamma " + fx(c, "gamma_init") +
                                  " --beta " + fx(c, "beta_init") + " --out " + (dir / "o"));
        REQUIRE(r.code == 0);
        CHECK(tgtest::rel_diff(tg::io::load_npy<float>(dir / "o/dx.npy"), tg::io::load_npy<float>(fx(c, "dx0"))) < 1e-4);
        CHECK(tgtest::rel_diff(tg::io::load_npy<float>(dir / "o/running_var.npy"), tg::io::load_npy<float>(fx(c, "running_var0"))) < 1e-4);
    }
    SUBCASE("cumulative") {
        const std::string c = "cumulative";
        Run r = tapegrad(dir, "bn --cumulative --x " + fx(c, "x1") + " --dy " + fx(c, "dy1") + " --gamma " +
                                  fx(c, "gamma_init") + " --beta " + fx(c, "beta_init") + " --running-mean " +
                                  fx(c, "running_mean0") + " --running-var " + fx(c, "running_var0") +
                                  " --num-batches-tracked 1 --out " + (dir / "o"));
        REQUIRE(r.code == 0);
        CHECK(tgtest::rel_diff(tg::io::load_npy<double>(dir / "o/running_var.npy"), tg::io::load_npy<double>(fx(c, "running_var1"))) < 1e-10);
    }
    SUBCASE("no affine, no tracking") {
        const std::string c = "no_affine_no_track";
        Run r = tapegrad(dir, "bn --no-affine --no-track --impl composite --x " + fx(c, "x0") + " --dy " + fx(c, "dy0") +
                                  " --out " + (dir / "o"));
        REQUIRE(r.code == 0);
        CHECK(tgtest::rel_diff(tg::io::load_npy<double>(dir / "o/dx.npy"), tg::io::load_npy<double>(fx(c, "dx0"))) < 1e-10);
        CHECK_FALSE(fs::exists(dir / "o/dgamma.npy"));
        CHECK_FALSE(fs::exists(dir / "o/running_mean.npy"));
    }
    SUBCASE("cs231n") {
        const std::string c = "cs231n";
        Run r = tapegrad(dir, "bn --convention cs231n --x " + fx(c, "x0") + " --dy " + fx(c, "dy0") + " --gamma " +
                                  fx(c, "gamma_init") + " --beta " + fx(c, "beta_init") + " --out " + (dir / "o"));
        REQUIRE(r.code == 0);
        CHECK(tgtest::rel_diff(tg::io::load_npy<double>(dir / "o/running_var.npy"), tg::io::load_npy<double>(fx(c, "running_var0"))) < 1e-10);
    }
}

TEST_CASE("tapegrad bn rejects a missing file") {
    TempDir dir;
    check_refused(tapegrad(dir, "bn --x " + (dir / "nope.npy") + " --dy " + (dir / "nope.npy")), "cannot open");
}

TEST_CASE("tapegrad bn rejects a file that is not .npy") {
    TempDir dir;
    std::ofstream(dir / "x.npy") << "hello";
    check_refused(tapegrad(dir, "bn --x " + (dir / "x.npy") + " --dy " + (dir / "x.npy")), "not a valid .npy file");
}

TEST_CASE("tapegrad bn rejects a wrong dtype") {
    TempDir dir;
    tg::io::save_npy<std::int64_t>(dir / "x.npy", Array<std::int64_t>(xt::ones<std::int64_t>({4, 3})));
    check_refused(tapegrad(dir, "bn --x " + (dir / "x.npy") + " --dy " + (dir / "x.npy")), "int64");
    // x float64 with gamma float32
    tg::io::save_npy<double>(dir / "xd.npy", tgtest::random_tensor({4, 3}, 1).value());
    tg::io::save_npy<float>(dir / "g.npy", Array<float>(xt::ones<float>({3})));
    check_refused(tapegrad(dir, "bn --x " + (dir / "xd.npy") + " --dy " + (dir / "xd.npy") + " --gamma " + (dir / "g.npy")),
                  "float32");
}

TEST_CASE("tapegrad bn rejects shapes that do not match") {
    TempDir dir;
    tg::io::save_npy<double>(dir / "x.npy", tgtest::random_tensor({4, 3}, 1).value());
    tg::io::save_npy<double>(dir / "dy.npy", tgtest::random_tensor({4, 2}, 2).value());
    tg::io::save_npy<double>(dir / "g.npy", tgtest::random_tensor({4}, 3).value());
    check_refused(tapegrad(dir, "bn --x " + (dir / "x.npy") + " --dy " + (dir / "dy.npy")), "--dy");
    check_refused(tapegrad(dir, "bn --x " + (dir / "x.npy") + " --dy " + (dir / "x.npy") + " --gamma " + (dir / "g.npy")),
                  "--gamma");
    check_refused(tapegrad(dir, "bn --x " + (dir / "x.npy") + " --dy " + (dir / "x.npy") + " --running-var " + (dir / "g.npy")),
                  "--running-var");
}

TEST_CASE("tapegrad bn rejects a rank outside 2..4") {
    TempDir dir;
    tg::io::save_npy<double>(dir / "x1.npy", tgtest::random_tensor({5}, 1).value());
    tg::io::save_npy<double>(dir / "x5.npy", tgtest::random_tensor({2, 2, 2, 2, 2}, 1).value());
    check_refused(tapegrad(dir, "bn --x " + (dir / "x1.npy") + " --dy " + (dir / "x1.npy")), "rank");
    check_refused(tapegrad(dir, "bn --x " + (dir / "x5.npy") + " --dy " + (dir / "x5.npy")), "rank");
}

TEST_CASE("tapegrad bn rejects one value per channel in training") {
    TempDir dir;
    tg::io::save_npy<double>(dir / "x.npy", tgtest::random_tensor({1, 3}, 1).value());
    check_refused(tapegrad(dir, "bn --x " + (dir / "x.npy") + " --dy " + (dir / "x.npy")), "more than 1 value");
}

TEST_CASE("tapegrad bn rejects contradictory or unknown options as usage errors") {
    TempDir dir;
    tg::io::save_npy<double>(dir / "x.npy", tgtest::random_tensor({4, 3}, 1).value());
    const std::string io = " --x " + (dir / "x.npy") + " --dy " + (dir / "x.npy");
    check_refused(tapegrad(dir, "bn --momentum 0.1 --cumulative" + io), "excludes", 2);
    check_refused(tapegrad(dir, "bn --impl fast" + io), "--impl", 2);
    check_refused(tapegrad(dir, "bn --bogus" + io), "bogus", 2);
    check_refused(tapegrad(dir, "bn --x " + (dir / "x.npy")), "--dy", 2);
    check_refused(tapegrad(dir, "bn --no-affine --gamma " + (dir / "x.npy") + io), "--no-affine");
    check_refused(tapegrad(dir, "bn --num-batches-tracked -3" + io), "--num-batches-tracked");
}

TEST_CASE("tapegrad norm runs layer norm and group norm on PyTorch's recorded cases, and batch norm as bn does") {
    const fs::path norm = fs::path(TAPEGRAD_FIXTURES) / "norm";
    auto nf = [&](const std::string& c, const std::string& name) { return (norm / c / (name + ".npy")).string(); };
    for (const std::string impl : {"composite", "fused"}) {
        for (const auto& [c, how] : std::vector<std::pair<std::string, std::string>>{
                 {"ln_3d_two", "--kind layer --normalized-shape 3,4"}, {"ln_2d", "--kind layer"},
                 {"gn_g2_4d", "--kind group --groups 2"}, {"gn_f32", "--kind group --groups 4"}}) {
            CAPTURE(impl);
            const std::string fixture = c;
            CAPTURE(fixture);
            TempDir dir;
            const Run r = tapegrad(dir, "norm " + how + " --impl " + impl + " --x " + nf(c, "x") + " --dy " + nf(c, "dy") +
                                            " --gamma " + nf(c, "gamma") + " --beta " + nf(c, "beta") + " --out " + (dir / "o"));
            INFO(r.err);
            REQUIRE(r.code == 0);
            CHECK(r.out.find("wrote 4 files") != std::string::npos);
            const bool f32 = c == "gn_f32";
            for (const std::string q : {"y", "dx", "dgamma", "dbeta"}) {
                CAPTURE(q);
                const double d = f32 ? tgtest::rel_diff(tg::io::load_npy<float>(dir / ("o/" + q + ".npy")), tg::io::load_npy<float>(nf(c, q)))
                                     : tgtest::rel_diff(tg::io::load_npy<double>(dir / ("o/" + q + ".npy")), tg::io::load_npy<double>(nf(c, q)));
                CHECK(d < (f32 ? 1e-4 : 1e-10));
            }
        }
    }
    TempDir dir;
    const std::string c = "bn1d_2d";
    const Run r = tapegrad(dir, "norm --kind batch --x " + fx(c, "x0") + " --dy " + fx(c, "dy0") + " --gamma " +
                                    fx(c, "gamma_init") + " --beta " + fx(c, "beta_init") + " --out " + (dir / "o"));
    REQUIRE(r.code == 0);
    CHECK(r.out.rfind("norm: fused train step", 0) == 0);
    CHECK(tgtest::rel_diff(tg::io::load_npy<double>(dir / "o/dx.npy"), tg::io::load_npy<double>(fx(c, "dx0"))) < 1e-10);
}

TEST_CASE("tapegrad norm refuses what does not apply, with one line each") {
    TempDir dir;
    const fs::path norm = fs::path(TAPEGRAD_FIXTURES) / "norm";
    const std::string x = (norm / "gn_g2_4d" / "x.npy").string();  // (3, 4, 3, 3)
    const std::string files = " --x " + x + " --dy " + x + " --out " + (dir / "o");
    check_refused(tapegrad(dir, "norm --kind group --groups 3" + files), "4 channels do not split into 3 groups");
    check_refused(tapegrad(dir, "norm --kind group" + files), "needs --groups");
    check_refused(tapegrad(dir, "norm --kind layer --normalized-shape 4,3" + files), "must be the input's trailing dimensions");
    check_refused(tapegrad(dir, "norm --kind layer --normalized-shape 3,x" + files), "--normalized-shape must be positive");
    check_refused(tapegrad(dir, "norm --kind layer --running-mean " + x + files), "--running-mean is batch norm's");
    check_refused(tapegrad(dir, "norm --kind layer --groups 2" + files), "--groups is for --kind group");
    check_refused(tapegrad(dir, "norm --kind group --groups 2 --gamma " + x + files), "--gamma");
    check_refused(tapegrad(dir, "norm --kind group --groups 36" + files), "do not split");
    CHECK_FALSE(fs::exists(dir / "o"));
}
