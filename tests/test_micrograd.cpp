// micrograd's two published examples (its README and test_engine.py), reproduced exactly.
#include "helpers.hpp"

using tg::Tensor;

namespace {
Tensor<double> s(double v) { return Tensor<double>::scalar(v, true); }
}  // namespace

TEST_CASE("micrograd's first expression gives y = -20 and dy/dx = 46") {
    Tensor<double> x = s(-4.0);
    Tensor<double> z = 2.0 * x + 2.0 + x;
    Tensor<double> q = tg::relu(z) + z * x;
    Tensor<double> h = tg::relu(z * z);
    Tensor<double> y = h + q + q * x;
    y.backward();
    CHECK(y.item() == doctest::Approx(-20.0));
    CHECK(x.grad()() == doctest::Approx(46.0));
}

TEST_CASE("micrograd's second expression gives g = 24.7041, dg/da = 138.8338, dg/db = 645.5773") {
    Tensor<double> a = s(-4.0);
    Tensor<double> b = s(2.0);
    Tensor<double> c = a + b;
    Tensor<double> d = a * b + tg::pow(b, 3);
    c = c + c + 1.0;
    c = c + 1.0 + c + (-a);
    d = d + d * 2.0 + tg::relu(b + a);
    d = d + 3.0 * d + tg::relu(b - a);
    Tensor<double> e = c - d;
    Tensor<double> f = tg::pow(e, 2);
    Tensor<double> g = f / 2.0;
    g = g + 10.0 / f;
    g.backward();
    // micrograd prints these to four decimals; the exact values are 24.70408163..., 138.83381924...,
    // 645.57725947...
    CHECK(g.item() == doctest::Approx(24.7041).epsilon(1e-5));
    CHECK(a.grad()() == doctest::Approx(138.8338).epsilon(1e-6));
    CHECK(b.grad()() == doctest::Approx(645.5773).epsilon(1e-6));
}
