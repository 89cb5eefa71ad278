// gradcheck itself: it must pass correct gradients and catch wrong ones.
#include "helpers.hpp"

using tg::Array;
using tg::Grads;
using tg::Node;
using tg::Tensor;
using Inputs = std::vector<Tensor<double>>;

namespace {

// x^2 with a deliberately wrong backward (x instead of 2x), recorded like any op.
Tensor<double> wrong_square(const Tensor<double>& x) {
    Tensor<double> out(Array<double>(xt::square(x.value())));
    return tg::record<double>(out, "wrong_square", {x}, {x}, "(wrong) g*x",
                              [](const Node<double>& n, const Tensor<double>& g) {
                                  return tg::grads<double>(tg::mul(g, n.saved(0)));
                              });
}

// A backward that ignores the upstream gradient: right only when the upstream is all ones.
Tensor<double> ignores_upstream(const Tensor<double>& x) {
    Tensor<double> out(Array<double>(2.0 * x.value()));
    return tg::record<double>(out, "ignores_upstream", {x}, {}, "(wrong) 2",
                              [](const Node<double>& n, const Tensor<double>&) {
                                  Array<double> two(n.input_shape(0));
                                  two.fill(2.0);
                                  return tg::grads<double>(Tensor<double>(two));
                              });
}

}  // namespace

TEST_CASE("gradcheck passes a correct gradient with tiny errors") {
    Tensor<double> x = tgtest::random_tensor({3, 4}, 1);
    const auto r = tg::gradcheck([](const Inputs& in) { return tg::pow(in[0], 2); }, {x});
    CHECK(r.ok);
    REQUIRE(r.inputs.size() == 1);
    CHECK(r.inputs[0].max_abs_err < 1e-8);
    CHECK(r.inputs[0].rel_error < 1e-7);
    // the analytic gradient is left in .grad
    CHECK(x.has_grad());
}

TEST_CASE("gradcheck catches a wrong backward and reports its size") {
    Tensor<double> x = tgtest::random_tensor({3, 4}, 2, 0.5, 1.0);
    const auto r = tg::gradcheck([](const Inputs& in) { return wrong_square(in[0]); }, {x});
    CHECK_FALSE(r.ok);
    // analytic g*x against numeric 2*g*x: |a - n| / (|a| + |n|) = 1/3 everywhere
    CHECK(r.inputs[0].rel_error == doctest::Approx(1.0 / 3.0).epsilon(1e-6));
    CHECK(r.inputs[0].max_rel_err == doctest::Approx(0.5).epsilon(1e-6));
    CHECK(r.summary().find("FAILED") != std::string::npos);
}

TEST_CASE("gradcheck's non-uniform upstream gradient exposes a backward that ignores it") {
    Tensor<double> x = tgtest::random_tensor({5}, 3);
    const auto r = tg::gradcheck([](const Inputs& in) { return ignores_upstream(in[0]); }, {x});
    CHECK_FALSE(r.ok);
}

TEST_CASE("gradcheck checks only the inputs that require a gradient, and restores values") {
    Tensor<double> x = tgtest::random_tensor({2, 2}, 4);
    Tensor<double> c = tgtest::random_tensor({2, 2}, 5, -1, 1, false);
    const Array<double> before = x.value();
    const auto r = tg::gradcheck([](const Inputs& in) { return in[0] * in[1]; }, {c, x});
    CHECK(r.ok);
    REQUIRE(r.inputs.size() == 1);
    CHECK(r.inputs[0].index == 1);
    CHECK(x.value() == before);
}

TEST_CASE("gradcheck refuses a function that depends on no checked input") {
    Tensor<double> c = tgtest::random_tensor({2}, 6, -1, 1, false);
    CHECK_THROWS_AS(tg::gradcheck([](const Inputs& in) { return in[0] * 2.0; }, {c}), tg::GraphError);
}
