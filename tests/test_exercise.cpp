// Grading a learner's own backward pass: every mistake learners make with batch norm is caught at
// the quantity where it happens, with its hint; bad files get one clear row and the others are
// still graded; the exercises' starters run, and filled in with a reference solution
// (tests/exercises/solve.py) they pass.
#include <map>

#include "cli_helpers.hpp"
#include "grade/exercise.hpp"

using tg::Array;
using tg::grade::CheckResult;
using tg::grade::Quantity;
using tg::grade::Status;
using namespace tgtest;

namespace {

const Quantity& find(const std::vector<Quantity>& qs, const std::string& file) {
    const auto it = std::find_if(qs.begin(), qs.end(), [&](const Quantity& q) { return q.file == file; });
    REQUIRE(it != qs.end());
    return *it;
}

const tg::grade::CheckRow& row(const CheckResult& r, const std::string& file) {
    const auto it = std::find_if(r.rows.begin(), r.rows.end(), [&](const auto& w) { return w.file == file + ".npy"; });
    REQUIRE(it != r.rows.end());
    return *it;
}

// A folder holding the right answer for every quantity, with `planted` written over it.
struct Answers {
    TempDir dir;
    tg::grade::BnExercise e = tg::grade::make_bn_exercise(0);
    std::vector<Quantity> qs = tg::grade::batchnorm_quantities(e);
    tg::grade::CheckOptions options;

    Answers() : Answers(std::map<std::string, Array<double>>{}) {}
    explicit Answers(const std::map<std::string, Array<double>>& planted) {
        options.batch = e.x.shape()[0];
        for (const Quantity& q : qs) {
            tg::io::save_npy(dir / (q.file + ".npy"), q.expected);
        }
        for (const auto& [file, value] : planted) {
            tg::io::save_npy(dir / (file + ".npy"), value);
        }
    }
    const Array<double>& at(const std::string& file) const { return find(qs, file).expected; }
    void plant(const std::string& file, const Array<double>& value) const { tg::io::save_npy(dir / (file + ".npy"), value); }
    CheckResult check() const { return tg::grade::check_gradients(qs, dir.path.string(), options); }
};

std::string first_wrong(const CheckResult& r) {
    REQUIRE(r.first_wrong);
    return r.rows[*r.first_wrong].file;
}

// Fills in the starter of the exercise in `ex` with the reference solution (tests/exercises/solve.py),
// with `planted` ("name=expression") replacing one line, and runs it: as a learner would.
void solve_and_run(const std::string& ex, const std::string& starter, const std::string& planted = "") {
    const std::string solve = std::string(TAPEGRAD_SOURCE) + "/tests/exercises/solve.py";
    const std::string script = ex + "/solved.py";
    const std::string cmd = "/usr/bin/python3 " + solve + " " + ex + "/" + starter + " " + script +
                            (planted.empty() ? "" : " '" + planted + "'") + " && /usr/bin/python3 " + script + " >/dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);
}

}  // namespace

TEST_CASE("the engine's own answers are all exact, and nothing handed in is not given") {
    Answers right;
    const CheckResult r = right.check();
    CHECK(r.ok());
    CHECK(r.count(Status::exact) == right.qs.size());
    TempDir empty;
    const CheckResult none = tg::grade::check_gradients(right.qs, empty.path.string());
    CHECK(none.ok());
    CHECK(none.count(Status::not_given) == right.qs.size());
}

TEST_CASE("the batch-norm quantities follow the derivation and agree with its closed forms") {
    const tg::grade::BnExercise e = tg::grade::make_bn_exercise(3);
    const auto qs = tg::grade::batchnorm_quantities(e);
    std::vector<std::string> files;
    for (const auto& q : qs) files.push_back(q.file);
    CHECK(files == std::vector<std::string>{"mu", "xc", "sigma2", "std", "xhat", "y", "dbeta", "dgamma", "dxhat", "dsigma2",
                                            "dmu_xhat", "dmu_sigma2", "dmu", "dx_xhat", "dx_sigma2", "dx_mu", "dx"});
    // dx by the fused closed form, gamma*inv_std/N * (N*dy - sum(dy) - xhat*sum(dy*xhat))
    const Array<double>& xhat = find(qs, "xhat").expected;
    const Array<double> inv_std = 1.0 / find(qs, "std").expected;
    const double n = static_cast<double>(e.x.shape()[0]);
    const Array<double> closed = e.gamma * inv_std / n *
                                 (n * e.dy - Array<double>(xt::sum(e.dy, {0})) - xhat * Array<double>(xt::sum(e.dy * xhat, {0})));
    CHECK(max_abs_diff(find(qs, "dx").expected, closed) < 1e-13);
    // the gamma and beta of the exercise are not 1 and 0, so that every step shows
    CHECK(xt::all(xt::abs(e.gamma - 1.0) > 1e-3));
    CHECK(xt::all(xt::abs(e.beta) > 1e-3));
    for (const auto& q : qs) {
        CAPTURE(q.file);
        CHECK(!q.formula.empty());
        CHECK((q.forward || !q.source.empty()));
    }
}

TEST_CASE("each mistake learners make is caught at its quantity, with a hint") {
    Answers a;
    const double n = 4;
    const Array<double>& dy = a.e.dy;
    const Array<double>& xhat = a.at("xhat");
    const Array<double>& xc = a.at("xc");
    const Array<double>& dxhat = a.at("dxhat");
    const Array<double>& sigma2 = a.at("sigma2");

    SUBCASE("dgamma not summed over the batch: a shape message with the fix") {
        a.plant("dgamma", Array<double>(dy * xhat));
        const CheckResult r = a.check();
        CHECK(first_wrong(r) == "dgamma.npy");
        CHECK(row(r, "dgamma").problem ==
              "dL/dgamma has one value per feature, [3]; yours is [4, 3]: did you forget to sum over the batch?");
        CHECK(row(r, "dxhat").status == Status::exact);  // the rest is still graded
        CHECK(has(r.explanation, "dL/dgamma = sum_i dL/dy_i * xhat_i"));
    }
    SUBCASE("a wrong sign in dL/dsigma2") {
        a.plant("dsigma2", Array<double>(-a.at("dsigma2")));
        const CheckResult r = a.check();
        CHECK(first_wrong(r) == "dsigma2.npy");
        CHECK(has(row(r, "dsigma2").hint, "opposite sign"));
        // the paragraph locates the error: what it is built from was right
        CHECK(has(r.explanation, "dL/dxhat (right)"));
        CHECK(has(r.explanation, "so the mistake is in this step"));
        CHECK(r.samples.size() == 3);
    }
    SUBCASE("sigma2 used where sigma2 + eps belongs") {
        a.plant("dsigma2", Array<double>(-0.5 * xt::sum(dxhat * xc, {0}) * xt::pow(sigma2, -1.5)));
        const CheckResult r = a.check();
        CHECK(first_wrong(r) == "dsigma2.npy");
        CHECK(has(row(r, "dsigma2").hint, "sigma2 where sigma2 + eps belongs"));
        CHECK(row(r, "dsigma2").max_rel < 1e-4);  // a small difference, still caught
    }
    SUBCASE("N - 1 used for N") {
        a.plant("dx_sigma2", Array<double>(a.at("dsigma2") * 2.0 * xc / (n - 1)));
        const CheckResult r = a.check();
        CHECK(first_wrong(r) == "dx_sigma2.npy");
        CHECK(has(row(r, "dx_sigma2").hint, "N - 1 where N belongs"));
    }
    SUBCASE("the 1/N missing from dL/dX from mu") {
        a.plant("dx_mu", Array<double>(xt::ones<double>({4, 3}) * a.at("dmu")));
        const CheckResult r = a.check();
        CHECK(first_wrong(r) == "dx_mu.npy");
        CHECK(has(row(r, "dx_mu").hint, "is a 1/N missing?"));
    }
    SUBCASE("dL/dX missing one of its three parts") {
        a.plant("dx", Array<double>(a.at("dx_xhat") + a.at("dx_sigma2")));
        const CheckResult r = a.check();
        CHECK(first_wrong(r) == "dx.npy");
        CHECK(has(row(r, "dx").hint, "the part from mu is missing"));
        CHECK(has(r.explanation, "dL/dX from mu (right)"));
    }
    SUBCASE("a transposed array") {
        a.plant("dx_xhat", Array<double>(xt::transpose(a.at("dx_xhat"))));
        const CheckResult r = a.check();
        CHECK(first_wrong(r) == "dx_xhat.npy");
        CHECK(has(row(r, "dx_xhat").problem, "yours is [3, 4]: that is its transpose"));
    }
    SUBCASE("dgamma computed as dbeta") {
        a.plant("dgamma", Array<double>(xt::sum(dy, {0})));
        CHECK(has(row(a.check(), "dgamma").hint, "the xhat is missing"));
    }
    SUBCASE("the unbiased variance in the forward pass") {
        a.plant("sigma2", Array<double>(sigma2 * n / (n - 1)));
        const CheckResult r = a.check();
        CHECK(first_wrong(r) == "sigma2.npy");
        CHECK(has(row(r, "sigma2").hint, "unbiased variance"));
    }
    SUBCASE("kept dimensions ([1, 3] for [3]) are fine") {
        Array<double> kept = a.at("dbeta");
        kept.reshape({1, 3});
        a.plant("dbeta", kept);
        CHECK(row(a.check(), "dbeta").status == Status::exact);
    }
}

TEST_CASE("a file that is not a valid .npy, of another dtype, with NaN or of an impossible shape gets one row; the rest are graded") {
    Answers a;
    {
        std::ofstream(a.dir / "dxhat.npy") << "this is not numpy";
    }
    tg::io::save_npy(a.dir / "dgamma.npy", Array<float>(xt::cast<float>(a.at("dgamma"))));
    Array<double> with_nan = a.at("dsigma2");
    with_nan(1) = std::nan("");
    a.plant("dsigma2", with_nan);
    a.plant("dmu", Array<double>(xt::zeros<double>({5})));
    const CheckResult r = a.check();
    CHECK(first_wrong(r) == "dgamma.npy");
    CHECK(has(row(r, "dgamma").problem, "dgamma.npy holds float32 values; save float64 arrays"));
    CHECK(has(row(r, "dxhat").problem, "dxhat.npy is not a .npy file tapegrad can read"));
    CHECK(row(r, "dsigma2").problem == "dsigma2.npy holds NaN (1 of 3 values)");
    CHECK(has(row(r, "dmu").problem, "dL/dmu has one value per feature, [3]; yours is [5]"));
    CHECK(row(r, "dx").status == Status::exact);
    CHECK(r.count(Status::wrong) == 4);
    const std::string text = tg::grade::check_text(r, a.qs);
    CHECK(has(text, "4 WRONG"));
    CHECK(has(text, "dsigma2.npy holds NaN"));
}

TEST_CASE("any named graph can be checked: each named tensor's value and gradient") {
    Tensor<double> W(Array<double>{{0.5, -1.0}, {2.0, 0.25}}, true);
    W.named("W");
    Tensor<double> x(Array<double>{{1.0, 2.0}, {-1.0, 0.5}, {0.0, 3.0}});
    Tensor<double> h = tg::tanh(tg::matmul(x, W)).named("h");
    Tensor<double> loss = tg::sum(tg::pow(h, 2)).named("loss");
    const auto qs = tg::grade::named_quantities(loss);
    std::vector<std::string> files;
    for (const auto& q : qs) files.push_back(q.file);
    CHECK(files == std::vector<std::string>{"h", "loss", "dh", "dW"});
    // dL/dh = 2h by hand; dL/dW = x^T (dh * (1 - h^2))
    const Array<double> hv = h.value();
    CHECK(max_abs_diff(find(qs, "dh").expected, Array<double>(2.0 * hv)) < 1e-15);
    const Array<double> dW =
        tg::matmul(Tensor<double>(Array<double>(xt::transpose(x.value()))), Tensor<double>(Array<double>(2.0 * hv * (1.0 - hv * hv)))).value();
    CHECK(max_abs_diff(find(qs, "dW").expected, dW) < 1e-14);
    CHECK(find(qs, "dh").from == std::vector<std::string>{});  // its consumer, pow(h, 2), has no name
    TempDir dir;
    tg::io::save_npy(dir / "dW.npy", Array<double>(dW * 1.5));
    const CheckResult r = tg::grade::check_gradients(qs, dir.path.string());
    CHECK(first_wrong(r) == "dW.npy");
    CHECK(has(row(r, "dW").hint, "1.5 times the right value"));
}

TEST_CASE("tapegrad exercise bn and check: the starter runs, a solution passes, a planted bug fails with exit 1") {
    TempDir dir;
    const std::string ex = dir / "ex";
    Run made = tapegrad(dir, "exercise bn --out " + ex + " --seed 7");
    REQUIRE(made.code == 0);
    CHECK(has(made.out, "/usr/bin/python3 " + ex + "/bn_backward.py"));
    CHECK(has(made.out, "check --mine " + ex));
    for (const char* f : {"x.npy", "dy.npy", "gamma.npy", "beta.npy", "bn_backward.py", "exercise.json", "cpp/bn_backward.cpp",
                          "cpp/CMakeLists.txt"}) {
        CHECK(fs::exists(fs::path(ex) / f));
    }
    // the starter as written: the forward pass only, every gradient "not given", exit 0
    REQUIRE(std::system(("/usr/bin/python3 " + ex + "/bn_backward.py >/dev/null").c_str()) == 0);
    Run unsolved = tapegrad(dir, "check --mine " + ex);
    CHECK(unsolved.code == 0);
    CHECK(has(unsolved.out, "6 of 17 given"));
    solve_and_run(ex, "bn_backward.py");
    Run solved = tapegrad(dir, "check --mine " + ex);
    INFO(solved.out);
    CHECK(solved.code == 0);
    CHECK(has(solved.out, "17 of 17 given"));
    CHECK(has(solved.out, "Everything you handed in is right."));
    // a planted bug: the sign of dL/dsigma2
    solve_and_run(ex, "bn_backward.py", "dsigma2=0.5 * (dxhat * xc).sum(0) * (sigma2 + eps) ** -1.5");
    Run buggy = tapegrad(dir, "check --mine " + ex + " --format json");
    CHECK(buggy.code == 1);
    const auto j = nlohmann::json::parse(buggy.out);
    CHECK(j["ok"] == false);
    CHECK(j["first_wrong"]["quantity"] == "dL/dsigma2");
    // writing a second exercise over the first is refused: the learner's work is kept
    check_refused(tapegrad(dir, "exercise bn --out " + ex), "already holds an exercise");
    CHECK(fs::exists(fs::path(ex) / "solved.py"));
}

TEST_CASE("tapegrad exercise mlp: makemore's names, and the solution passes") {
    TempDir dir;
    const std::string ex = dir / "ex";
    REQUIRE(tapegrad(dir, "exercise mlp --out " + ex).code == 0);
    solve_and_run(ex, "mlp_backward.py");
    Run solved = tapegrad(dir, "check --mine " + ex);
    INFO(solved.out);
    CHECK(solved.code == 0);
    // every gradient of the notebook's exercise 1, and the table in the notebook's order
    std::size_t last = 0;
    for (const std::string& name : tg::grade::mlp_backward_order) {
        const std::size_t at = solved.out.find("  " + name + ".npy");
        CHECK_MESSAGE(at != std::string::npos, name);
        CHECK_MESSAGE(at > last, name << " comes after the one before it in the notebook");
        last = at == std::string::npos ? last : at;
    }
    CHECK(tg::grade::mlp_backward_order.size() == 26);
    CHECK(tg::grade::mlp_backward_order.front() == "dlogprobs");
    CHECK(tg::grade::mlp_backward_order.back() == "dC");
    CHECK(has(solved.out, "46 of 46 given"));
    // dlogit_maxes is about 0: graded close, and the row says why its relative difference is large
    CHECK(has(solved.out, "the quantity is near zero"));
    // makemore's classic slip: 1/n in dbndiff2 where the variance has 1/(n-1)
    solve_and_run(ex, "mlp_backward.py", "dbndiff2=1.0 / n * np.ones_like(bndiff2) * dbnvar");
    Run buggy = tapegrad(dir, "check --mine " + ex);
    CHECK(buggy.code == 1);
    CHECK(has(buggy.out, "The first wrong quantity is dL/dbndiff2"));
    CHECK(has(buggy.out, "Bessel"));
}

TEST_CASE("check without an exercise folder is refused with the command that makes one") {
    TempDir dir;
    check_refused(tapegrad(dir, "check --mine " + (dir / "nothing")), "tapegrad exercise bn --out");
}
