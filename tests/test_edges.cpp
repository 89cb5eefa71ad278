// Every element-wise op at the points where its formula is 0/0, 1/0 or undefined (0, -0, +-inf,
// NaN, saturation), against PyTorch 1.13's values and gradients recorded once by
// tests/fixtures/make_edge_fixtures.py; and every op on tensors with a zero-size dimension, whose
// answers are derived by hand (a sum of nothing is 0, a mean of nothing is NaN).
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>

#include "helpers.hpp"

using tg::Array;
using tg::Tensor;
namespace fs = std::filesystem;

namespace {

const fs::path edges = fs::path(TAPEGRAD_FIXTURES) / "edges";

Array<double> load(const std::string& name) { return tg::nn::load_npy<double>((edges / (name + ".npy")).string()); }

template <class T>
void check_same(const Array<T>& got, const Array<double>& want, double rel, const std::string& what, double abs = 1e-300) {
    tgtest::check_like_pytorch(got, want, what, rel, abs);
}

using Unary = std::function<Tensor<double>(const Tensor<double>&)>;
using UnaryF = std::function<Tensor<float>(const Tensor<float>&)>;

std::map<std::string, std::pair<Unary, UnaryF>> unary_ops() {
    std::map<std::string, std::pair<Unary, UnaryF>> ops;
#define TG_OP(name, expr)                                                                      \
    ops[name] = {[](const Tensor<double>& x) { return expr; }, [](const Tensor<float>& x) { return expr; }}
    TG_OP("neg", tg::neg(x));
    TG_OP("sqrt", tg::sqrt(x));
    TG_OP("exp", tg::exp(x));
    TG_OP("log", tg::log(x));
    TG_OP("abs", tg::abs(x));
    TG_OP("relu", tg::relu(x));
    TG_OP("tanh", tg::tanh(x));
    TG_OP("sigmoid", tg::sigmoid(x));
    TG_OP("pow_0.0", tg::pow(x, 0.0));
    TG_OP("pow_0.5", tg::pow(x, 0.5));
    TG_OP("pow_1.0", tg::pow(x, 1.0));
    TG_OP("pow_2.0", tg::pow(x, 2.0));
    TG_OP("pow_3.0", tg::pow(x, 3.0));
    TG_OP("pow_-1.0", tg::pow(x, -1.0));
    TG_OP("pow_-0.5", tg::pow(x, -0.5));
    TG_OP("pow_1.5", tg::pow(x, 1.5));
#undef TG_OP
    return ops;
}

// The value and gradient of f on x for upstream gradient g.
template <class T, class F>
std::pair<Array<T>, Array<T>> run(F&& f, const Array<T>& x, const Array<T>& g) {
    Tensor<T> in(x, true);
    Tensor<T> y = f(in);
    y.backward(g);
    return {y.value(), in.grad()};
}

}  // namespace

TEST_CASE("element-wise ops give PyTorch's values and gradients at 0, -0, infinities, NaN and saturation") {
    const Array<double> g = load("upstream");
    for (const auto& [name, ops] : unary_ops()) {
        const Array<double> x = load(name + ".x");
        const Array<double> y = load(name + ".y");
        const Array<double> dx = load(name + ".dx");
        SUBCASE(name.c_str()) {
            // 19 values: full SIMD blocks and a tail
            const auto [value, grad] = run<double>(ops.first, x, g);
            check_same(value, y, 1e-14, name + " value");
            check_same(grad, dx, 1e-14, name + " gradient");
            // each value alone, a one-element tensor
            for (std::size_t i = 0; i < x.size(); ++i) {
                const auto [v1, g1] = run<double>(ops.first, Array<double>{x(i)}, Array<double>{g(i)});
                check_same(v1, Array<double>{y(i)}, 1e-14, name + " value of one element");
                check_same(g1, Array<double>{dx(i)}, 1e-14, name + " gradient of one element");
            }
        }
    }
}

TEST_CASE("float32 element-wise ops agree with PyTorch at the same special points") {
    const Array<double> g = load("upstream");
    for (const auto& [name, ops] : unary_ops()) {
        SUBCASE(name.c_str()) {
            const Array<double> x = load(name + ".x");
            const Array<double> y = load(name + ".y");
            const Array<double> dx = load(name + ".dx");
            // the points float32 can hold (1e-300 and 1e300 cannot)
            std::vector<std::size_t> keep;
            for (std::size_t i = 0; i < x.size(); ++i) {
                const double a = std::abs(x(i));
                if (!(a > 0 && a < 1e-30) && !(a > 1e30 && std::isfinite(a))) {
                    keep.push_back(i);
                }
            }
            Array<float> xf = tg::empty<float>({keep.size()});
            Array<float> gf = tg::empty<float>({keep.size()});
            Array<double> yk = tg::empty<double>({keep.size()});
            Array<double> dk = tg::empty<double>({keep.size()});
            for (std::size_t k = 0; k < keep.size(); ++k) {
                xf(k) = static_cast<float>(x(keep[k]));
                gf(k) = static_cast<float>(g(keep[k]));
                yk(k) = y(keep[k]);
                dk(k) = dx(keep[k]);
            }
            const auto [value, grad] = run<float>(ops.second, xf, gf);
            // float32 against PyTorch's float64 answers: the rounding of float32 itself (1 - tanh(3)^2
            // keeps 5 digits; sigmoid(30) rounds to 1, so its gradient to 0 instead of 9e-14)
            check_same(value, yk, 1e-4, name + " float32 value", 1e-7);
            check_same(grad, dk, 1e-4, name + " float32 gradient", 1e-7);
        }
    }
}

TEST_CASE("pow at a base of 0 is right at every size (the cases that were wrong in SIMD blocks)") {
    for (std::size_t n : {1, 3, 4, 8, 9, 16}) {
        CAPTURE(n);
        // 0^0 = 1, 0^-1 = inf (PyTorch)
        CHECK(tg::pow(Tensor<double>::zeros({n}), 0.0).value() == xt::ones<double>({n}));
        CHECK(tg::pow(Tensor<float>::zeros({n}), 0.0).value() == xt::ones<float>({n}));
        CHECK(std::isinf(tg::pow(Tensor<double>::zeros({n}), -1.0).value()(n - 1)));
        // d/dx x^1 = 1 at 0; d/dx x^0.5 = inf at 0; d/dx x^0 = 0 at 0
        Tensor<double> x = Tensor<double>::zeros({n}, true);
        tg::sum(tg::pow(x, 1.0)).backward();
        CHECK(x.grad() == xt::ones<double>({n}));
        x.zero_grad();
        tg::sum(tg::pow(x, 0.5)).backward();
        CHECK(std::isinf(x.grad()(0)));
        x.zero_grad();
        tg::sum(tg::pow(x, 0.0)).backward();
        CHECK(x.grad() == xt::zeros<double>({n}));
    }
    // as it shows up in practice: pow(relu(x), p)
    Tensor<double> x(Array<double>{-1.0, 0.0, 2.0}, true);
    tg::sum(tg::pow(tg::relu(x), 0.0)).backward();
    CHECK(x.grad() == Array<double>{0.0, 0.0, 0.0});
}

TEST_CASE("relu keeps NaN instead of hiding it, as PyTorch") {
    const double nan = std::nan("");
    Tensor<double> x(Array<double>{nan, -1.0, 2.0, 0.0}, true);
    Tensor<double> y = tg::relu(x);
    CHECK(std::isnan(y.value()(0)));
    y.backward(Array<double>{3.0, 3.0, 3.0, 3.0});
    // PyTorch zeroes the gradient only where relu's output is <= 0: NaN passes g through
    CHECK(x.grad() == Array<double>{3.0, 0.0, 3.0, 0.0});
}

TEST_CASE("binary ops give PyTorch's values and gradients at division by zero, infinities and NaN") {
    const Array<double> g = load("upstream");
    const std::map<std::string, std::function<Tensor<double>(const Tensor<double>&, const Tensor<double>&)>> ops{
        {"add", [](const auto& a, const auto& b) { return a + b; }},
        {"sub", [](const auto& a, const auto& b) { return a - b; }},
        {"mul", [](const auto& a, const auto& b) { return a * b; }},
        {"div", [](const auto& a, const auto& b) { return a / b; }},
    };
    for (const auto& [name, f] : ops) {
        SUBCASE(name.c_str()) {
            Tensor<double> a(load(name + ".x"), true);
            Tensor<double> b(load(name + ".b"), true);
            Tensor<double> y = f(a, b);
            y.backward(g);
            check_same(y.value(), load(name + ".y"), 1e-15, name + " value");
            check_same(a.grad(), load(name + ".dx"), 1e-15, name + " gradient of a");
            check_same(b.grad(), load(name + ".db"), 1e-15, name + " gradient of b");
        }
    }
}

TEST_CASE("log_softmax with -inf, +inf, NaN and huge logits gives PyTorch's values and gradients") {
    Tensor<double> x(load("log_softmax.x"), true);
    Tensor<double> y = tg::log_softmax(x, 1);
    y.backward(load("log_softmax.g"));
    check_same(y.value(), load("log_softmax.y"), 1e-14, "log_softmax value");
    check_same(x.grad(), load("log_softmax.dx"), 1e-14, "log_softmax gradient");
}

TEST_CASE("tensors with a zero-size dimension: no crash, PyTorch's answers") {
    Tensor<double> x = Tensor<double>::zeros({0, 3}, true);
    SUBCASE("sum over the empty axis is zeros of the reduced shape") {
        Tensor<double> s = tg::sum(x, {0});
        CHECK(s.shape() == tg::Shape{3});
        CHECK(s.value() == xt::zeros<double>({3}));
        s.backward(Array<double>{1.0, 2.0, 3.0});
        CHECK(x.grad().shape() == std::vector<std::size_t>{0, 3});
    }
    SUBCASE("sum of everything is 0, with keepdims too") {
        Tensor<double> s = tg::sum(x);
        CHECK(s.item() == 0.0);
        s.backward();
        CHECK(x.grad().size() == 0);
        CHECK(tg::sum(x, {0, 1}, true).shape() == tg::Shape{1, 1});
    }
    SUBCASE("mean over the empty axis is NaN; over the other axis, an empty result") {
        Tensor<double> m0 = tg::mean(x, {0});
        CHECK(m0.shape() == tg::Shape{3});
        CHECK(std::isnan(m0.value()(0)));
        CHECK(std::isnan(tg::mean(x).item()));
        Tensor<double> m1 = tg::mean(x, {1});
        CHECK(m1.shape() == tg::Shape{0});
        m1.backward(xt::zeros<double>({0}));
        CHECK(x.grad().shape() == std::vector<std::size_t>{0, 3});
        Tensor<double> m2 = tg::mean(x, {1}, true);
        CHECK(m2.shape() == tg::Shape{0, 1});
    }
    SUBCASE("log_softmax of an empty batch is empty, either axis") {
        Tensor<double> y = tg::log_softmax(x, 1);
        CHECK(y.shape() == tg::Shape{0, 3});
        y.backward(xt::zeros<double>({0, 3}));
        CHECK(x.grad().size() == 0);
        CHECK(tg::log_softmax(x, 0).shape() == tg::Shape{0, 3});
    }
    SUBCASE("broadcast gradients summed back over an empty axis") {
        Tensor<double> a = Tensor<double>::zeros({0, 1}, true);
        Tensor<double> b = Tensor<double>::ones({3}, true);
        Tensor<double> y = a + b;
        CHECK(y.shape() == tg::Shape{0, 3});
        y.backward(xt::zeros<double>({0, 3}));
        CHECK(a.grad().shape() == std::vector<std::size_t>{0, 1});
        CHECK(b.grad() == xt::zeros<double>({3}));  // a sum of no gradients
        Tensor<double> c = Tensor<double>::zeros({0, 3}, true);
        tg::sum(c * b).backward();
        CHECK(c.grad().size() == 0);
    }
    SUBCASE("element-wise ops and activations keep the empty shape") {
        for (const auto& [name, ops] : unary_ops()) {
            const auto op = name;
            CAPTURE(op);
            Tensor<double> in = Tensor<double>::zeros({0, 3}, true);
            Tensor<double> y = ops.first(in);
            CHECK(y.shape() == tg::Shape{0, 3});
            tg::sum(y).backward();
            CHECK(in.grad().shape() == std::vector<std::size_t>{0, 3});
        }
    }
    SUBCASE("matmul with an empty inner dimension is zeros; with an empty outer one, empty") {
        Tensor<double> a = Tensor<double>::zeros({2, 0}, true);
        Tensor<double> b = Tensor<double>::zeros({0, 3}, true);
        Tensor<double> p = tg::matmul(a, b);
        CHECK(p.value() == xt::zeros<double>({2, 3}));
        p.backward(xt::ones<double>({2, 3}));
        CHECK(a.grad().shape() == std::vector<std::size_t>{2, 0});
        CHECK(b.grad().shape() == std::vector<std::size_t>{0, 3});
        Tensor<double> w = Tensor<double>::ones({3, 4}, true);
        Tensor<double> q = tg::matmul(x, w);
        CHECK(q.shape() == tg::Shape{0, 4});
        tg::sum(q).backward();
        CHECK(w.grad() == xt::zeros<double>({3, 4}));
    }
}
