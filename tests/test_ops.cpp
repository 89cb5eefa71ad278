// Every primitive op: values against hand-derived numbers, gradients against central differences
// (double precision, a non-uniform upstream gradient), over several shapes and broadcast patterns.
#include "helpers.hpp"

using tg::Array;
using tg::Tensor;
using tgtest::check_gradients;
using tgtest::random_tensor;
using Inputs = std::vector<Tensor<double>>;

namespace {

// The broadcast patterns every binary op is checked on: a is [4, 3], b is each of these.
const std::vector<tg::Shape> broadcast_partners = {{4, 3}, {3}, {4, 1}, {1, 3}, {}};

template <class F>
void check_binary(F op, double lo = -1.0, double hi = 1.0) {
    for (const auto& bshape : broadcast_partners) {
        CAPTURE(tg::shape_str(bshape));
        Tensor<double> a = random_tensor({4, 3}, 10, lo, hi);
        Tensor<double> b = random_tensor(bshape, 11, lo, hi);
        check_gradients([&](const Inputs& in) { return op(in[0], in[1]); }, {a, b});
        // and with the roles swapped, so the broadcast operand comes first
        check_gradients([&](const Inputs& in) { return op(in[1], in[0]); }, {a, b});
    }
}

template <class F>
void check_unary(F op, double lo = -1.0, double hi = 1.0) {
    for (const tg::Shape& shape : {tg::Shape{}, tg::Shape{5}, tg::Shape{3, 4}, tg::Shape{2, 3, 2}}) {
        CAPTURE(tg::shape_str(shape));
        Tensor<double> x = random_tensor(shape, 20, lo, hi);
        check_gradients([&](const Inputs& in) { return op(in[0]); }, {x});
    }
}

}  // namespace

TEST_CASE("add, sub, mul, div broadcast like NumPy and have correct gradients") {
    SUBCASE("add") { check_binary([](auto a, auto b) { return a + b; }); }
    SUBCASE("sub") { check_binary([](auto a, auto b) { return a - b; }); }
    SUBCASE("mul") { check_binary([](auto a, auto b) { return a * b; }); }
    SUBCASE("div (denominators kept away from 0)") {
        check_binary([](auto a, auto b) { return a / b; }, 0.5, 2.0);
    }
}

TEST_CASE("binary ops compute the values worked out by hand") {
    Tensor<double> a(Array<double>{{1., 2., 3.}, {4., 5., 6.}});
    Tensor<double> b(Array<double>{10., 20., 30.});
    CHECK((a + b).value() == Array<double>{{11., 22., 33.}, {14., 25., 36.}});
    CHECK((a - b).value() == Array<double>{{-9., -18., -27.}, {-6., -15., -24.}});
    CHECK((a * b).value() == Array<double>{{10., 40., 90.}, {40., 100., 180.}});
    CHECK((b / a).value() == Array<double>{{10., 10., 10.}, {2.5, 4., 5.}});
    CHECK((2.0 * a - 1.0).value() == Array<double>{{1., 3., 5.}, {7., 9., 11.}});
    CHECK((-a).value() == Array<double>{{-1., -2., -3.}, {-4., -5., -6.}});
}

TEST_CASE("the gradient of a broadcast operand is summed over the broadcast axes") {
    // y = sum(a * b) with a [2, 3] and b [3]: dy/db_j = sum_i a_ij
    Tensor<double> a(Array<double>{{1., 2., 3.}, {4., 5., 6.}}, true);
    Tensor<double> b(Array<double>{1., 1., 1.}, true);
    tg::sum(a * b).backward();
    CHECK(b.grad() == Array<double>{5., 7., 9.});
    CHECK(a.grad() == Array<double>{{1., 1., 1.}, {1., 1., 1.}});
    // a [4, 1] against [1, 3]: both stretch
    Tensor<double> c(Array<double>(xt::ones<double>({4, 1})), true);
    Tensor<double> d(Array<double>(xt::ones<double>({1, 3})), true);
    tg::sum(c + d).backward();
    CHECK(c.grad() == Array<double>(3.0 * xt::ones<double>({4, 1})));
    CHECK(d.grad() == Array<double>(4.0 * xt::ones<double>({1, 3})));
}

TEST_CASE("unary ops have correct gradients") {
    SUBCASE("neg") { check_unary([](auto x) { return -x; }); }
    SUBCASE("pow 2") { check_unary([](auto x) { return tg::pow(x, 2); }); }
    SUBCASE("pow 3") { check_unary([](auto x) { return tg::pow(x, 3); }); }
    SUBCASE("pow -0.5") { check_unary([](auto x) { return tg::pow(x, -0.5); }, 0.5, 2.0); }
    SUBCASE("sqrt") { check_unary([](auto x) { return tg::sqrt(x); }, 0.5, 2.0); }
    SUBCASE("exp") { check_unary([](auto x) { return tg::exp(x); }); }
    SUBCASE("log") { check_unary([](auto x) { return tg::log(x); }, 0.5, 2.0); }
    SUBCASE("abs (away from 0)") { check_unary([](auto x) { return tg::abs(x); }, 0.1, 1.0); }
    SUBCASE("abs of negatives") { check_unary([](auto x) { return tg::abs(x); }, -1.0, -0.1); }
    SUBCASE("relu") { check_unary([](auto x) { return tg::relu(x); }); }
    SUBCASE("tanh") { check_unary([](auto x) { return tg::tanh(x); }); }
    SUBCASE("sigmoid") { check_unary([](auto x) { return tg::sigmoid(x); }, -4.0, 4.0); }
}

TEST_CASE("unary ops compute the values worked out by hand") {
    Tensor<double> x(Array<double>{-2., 0., 4.});
    CHECK(tg::relu(x).value() == Array<double>{0., 0., 4.});
    CHECK(tg::abs(x).value() == Array<double>{2., 0., 4.});
    CHECK(tg::pow(x, 2).value() == Array<double>{4., 0., 16.});
    CHECK(tg::sqrt(tg::abs(x)).value()(2) == 2.0);
    CHECK(tg::exp(x).value()(1) == 1.0);
    CHECK(tg::log(tg::exp(x)).value()(2) == doctest::Approx(4.0));
    CHECK(tg::tanh(x).value()(1) == 0.0);
    CHECK(tg::sigmoid(x).value()(1) == 0.5);
    // sigmoid stays finite and exact at large magnitudes
    Tensor<double> big(Array<double>{-1000., 1000.});
    CHECK(tg::sigmoid(big).value() == Array<double>{0., 1.});
    // relu and abs send 0 as the gradient at 0 (PyTorch's convention)
    Tensor<double> z(Array<double>{0.}, true);
    tg::sum(tg::relu(z) + tg::abs(z)).backward();
    CHECK(z.grad()(0) == 0.0);
}

TEST_CASE("sum and mean over all elements and over axes, with keepdims") {
    Tensor<double> x(Array<double>{{1., 2., 3.}, {4., 5., 6.}});
    CHECK(tg::sum(x).item() == 21.0);
    CHECK(tg::mean(x).item() == 3.5);
    CHECK(tg::sum(x, {0}).value() == Array<double>{5., 7., 9.});
    CHECK(tg::mean(x, {1}).value() == Array<double>{2., 5.});
    CHECK(tg::mean(x, {-1}, true).shape() == tg::Shape{2, 1});
    CHECK(tg::sum(x, {0, 1}).shape() == tg::Shape{});
    CHECK(tg::sum(x, {0}, true).value() == Array<double>{{5., 7., 9.}});

    for (const std::vector<int>& axes : std::vector<std::vector<int>>{{0}, {1}, {2}, {0, 2}, {-1}, {}}) {
        for (bool keepdims : {false, true}) {
            CAPTURE(axes.size());
            CAPTURE(keepdims);
            Tensor<double> t = random_tensor({3, 4, 2}, 30);
            check_gradients([&](const Inputs& in) { return tg::sum(in[0], axes, keepdims); }, {t});
            check_gradients([&](const Inputs& in) { return tg::mean(in[0], axes, keepdims); }, {t});
        }
    }
}

TEST_CASE("mean over axis 0 sends the upstream gradient divided by N to every row") {
    Tensor<double> x = random_tensor({4, 2}, 31);
    tg::mean(x, {0}).backward(Array<double>{1., 2.});
    CHECK(x.grad() == Array<double>{{.25, .5}, {.25, .5}, {.25, .5}, {.25, .5}});
}

TEST_CASE("reshape, transpose and permute move gradients back") {
    Tensor<double> x = random_tensor({2, 3, 4}, 40);
    check_gradients([](const Inputs& in) { return tg::reshape(in[0], {6, -1}); }, {x});
    check_gradients([](const Inputs& in) { return tg::permute(in[0], {2, 0, 1}); }, {x});
    Tensor<double> m = random_tensor({3, 5}, 41);
    check_gradients([](const Inputs& in) { return tg::transpose(in[0]); }, {m});
    CHECK(tg::reshape(x, {4, -1}).shape() == tg::Shape{4, 6});
    CHECK(tg::permute(x, {2, 0, 1}).shape() == tg::Shape{4, 2, 3});
    Tensor<double> small(Array<double>{{1., 2.}, {3., 4.}});
    CHECK(tg::transpose(small).value() == Array<double>{{1., 3.}, {2., 4.}});
}

TEST_CASE("matmul through BLAS: values and gradients") {
    Tensor<double> a(Array<double>{{1., 2.}, {3., 4.}, {5., 6.}});
    Tensor<double> b(Array<double>{{1., 0., 2.}, {0., 1., 3.}});
    CHECK(tg::matmul(a, b).value() == Array<double>{{1., 2., 8.}, {3., 4., 18.}, {5., 6., 28.}});
    for (const auto& dims : std::vector<std::array<std::size_t, 3>>{{3, 2, 4}, {1, 5, 1}, {6, 3, 2}}) {
        const std::size_t m = dims[0], k = dims[1], n = dims[2];
        CAPTURE(m);
        Tensor<double> p = random_tensor({m, k}, 50);
        Tensor<double> q = random_tensor({k, n}, 51);
        check_gradients([](const Inputs& in) { return tg::matmul(in[0], in[1]); }, {p, q});
    }
    SUBCASE("batched") {
        Tensor<double> p = random_tensor({2, 3, 4}, 52);
        Tensor<double> q = random_tensor({2, 4, 5}, 53);
        check_gradients([](const Inputs& in) { return tg::matmul(in[0], in[1]); }, {p, q});
    }
    SUBCASE("float32 agrees with float64") {
        Tensor<float> pf = random_tensor<float>({7, 9}, 54);
        Tensor<float> qf = random_tensor<float>({9, 3}, 55);
        Tensor<double> pd(xt::cast<double>(pf.value()));
        Tensor<double> qd(xt::cast<double>(qf.value()));
        Array<double> got = xt::cast<double>(tg::matmul(pf, qf).value());
        CHECK(tgtest::max_abs_diff<double>(got, tg::matmul(pd, qd).value()) < 1e-5);
    }
}

TEST_CASE("log_softmax is stable and its gradient is correct on every axis") {
    Tensor<double> x(Array<double>{{1., 2., 3.}, {1000., 1000., 1000.}});
    Array<double> y = tg::log_softmax(x).value();
    // row 0: log(e^i / (e + e^2 + e^3)); row 1: log(1/3), even though e^1000 overflows
    const double lse = std::log(std::exp(1.) + std::exp(2.) + std::exp(3.));
    CHECK(y(0, 0) == doctest::Approx(1. - lse));
    CHECK(y(0, 2) == doctest::Approx(3. - lse));
    CHECK(y(1, 1) == doctest::Approx(-std::log(3.)));
    for (int axis : {0, 1, -1}) {
        CAPTURE(axis);
        Tensor<double> t = random_tensor({4, 5}, 60, -3.0, 3.0);
        check_gradients([axis](const Inputs& in) { return tg::log_softmax(in[0], axis); }, {t});
    }
}

TEST_CASE("a composite expression mixing every kind of op passes gradcheck") {
    Tensor<double> x = random_tensor({5, 4}, 70);
    Tensor<double> w = random_tensor({4, 3}, 71);
    Tensor<double> bias = random_tensor({3}, 72);
    check_gradients(
        [](const Inputs& in) {
            Tensor<double> h = tg::tanh(tg::matmul(in[0], in[1]) + in[2]);
            return tg::mean(tg::log_softmax(h * 3.0, 1) * tg::sigmoid(h), {0});
        },
        {x, w, bias});
}
