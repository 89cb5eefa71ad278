// Anomaly mode: the first NaN or infinity, in forward or backward, stops with its op and lineage.
#include "cli_helpers.hpp"

using tg::Array;
using tgtest::has;
using tgtest::message_of;
using tg::Tensor;

TEST_CASE("a square root of a negative value stops in forward, naming the op and where its input came from") {
    tg::DetectAnomalyGuard guard;
    Tensor<double> x = Tensor<double>(Array<double>{4., 1.}, true).named("x");
    Tensor<double> shifted = (x - 2.0).named("shifted");
    const std::string m = message_of<tg::AnomalyError>([&] { tg::sqrt(shifted); });
    CHECK(has(m, "anomaly in forward: sqrt produced NaN (1 of 2 values)"));
    CHECK(has(m, "sqrt(shifted), where shifted = sub(x, 2)"));
    CHECK(has(m, "negative"));
}

TEST_CASE("a zero variance in the composite batch norm is caught at the division, with sigma2 in its lineage") {
    tg::DetectAnomalyGuard guard;
    Tensor<double> X = Tensor<double>(Array<double>{{1., 3.}, {2., 3.}, {3., 3.}}, true).named("X");
    // eps = 0, the one a learner forgets (the modules refuse it): the constant feature divides 0 by 0
    const std::string m = message_of<tg::AnomalyError>([&] { tg::batchnorm_composite<double>(X, std::nullopt, std::nullopt, {0}, 0.0); });
    CHECK(has(m, "div produced NaN"));
    CHECK(has(m, "div(xc, std)"));
    CHECK(has(m, "sigma2 = mean(pow(xc))"));
    CHECK(has(m, "division by zero"));
}

TEST_CASE("an infinite gradient stops in backward, naming the node and the input it was sent to") {
    Tensor<double> x = Tensor<double>(Array<double>{0., 1.}, true).named("x");
    Tensor<double> r = tg::sqrt(x).named("r");  // sqrt(0) = 0 is fine; its slope there is not
    Tensor<double> y = tg::sum(r);
    tg::DetectAnomalyGuard guard;
    const std::string m = message_of<tg::AnomalyError>([&] { y.backward(); });
    CHECK(has(m, "anomaly in backward: the gradient that sqrt sends to 'x' holds an infinity"));
    CHECK(has(m, "r = sqrt(x)"));
}

TEST_CASE("anomaly mode is off by default and the guard restores what was there") {
    CHECK_FALSE(tg::anomaly_enabled());
    Tensor<double> x(Array<double>{-1.});
    CHECK(std::isnan(tg::sqrt(x).item()));  // no check, no throw
    {
        tg::DetectAnomalyGuard outer;
        {
            tg::DetectAnomalyGuard inner;
        }
        CHECK(tg::anomaly_enabled());
    }
    CHECK_FALSE(tg::anomaly_enabled());
}

TEST_CASE("tapegrad train --detect-anomaly runs clean training unchanged and stops a diverging one") {
    tgtest::TempDir dir;
    const tgtest::Run ok = tgtest::tapegrad(dir, "train --data moons --samples 200 --hidden 8 --epochs 1 --quiet --detect-anomaly");
    INFO(ok.err);
    CHECK(ok.code == 0);
    // a learning rate of 1e30 sends the weights, then the logits, to infinity
    tgtest::check_refused(tgtest::tapegrad(dir, "train --data moons --samples 200 --hidden 8 --epochs 2 --quiet "
                                                "--optim sgd --lr 1e30 --detect-anomaly"),
                          "anomaly in");
}
