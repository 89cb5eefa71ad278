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

Array<double> load(const std::string& name) { return tg::io::load_npy<double>((edges / (name + ".npy")).string()); }

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
    TG_OP("clamp", tg::clamp(x, -0.5, 2.0));
    TG_OP("clamp_lo_above_hi", tg::clamp(x, 2.5, 1.0));
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

using Binary = std::function<Tensor<double>(const Tensor<double>&, const Tensor<double>&)>;

const std::map<std::string, Binary>& binary_ops() {
    static const std::map<std::string, Binary> ops{
        {"add", [](const auto& a, const auto& b) { return a + b; }},
        {"sub", [](const auto& a, const auto& b) { return a - b; }},
        {"mul", [](const auto& a, const auto& b) { return a * b; }},
        {"div", [](const auto& a, const auto& b) { return a / b; }},
        {"maximum", [](const auto& a, const auto& b) { return tg::maximum(a, b); }},
        {"minimum", [](const auto& a, const auto& b) { return tg::minimum(a, b); }},
    };
    return ops;
}

tg::GradOptions graph() {
    tg::GradOptions o;
    o.create_graph = true;
    return o;
}

// With dx_i = grad(f(inputs), input_i, g, create_graph): the gradients of sum_i sum(gg * dx_i)
// with respect to each input and then to g (zeros where unused), as the fixtures record them.
std::vector<Array<double>> double_backward(const std::function<Tensor<double>(const std::vector<Tensor<double>>&)>& f,
                                           std::vector<Tensor<double>> inputs, const Array<double>& g_value,
                                           const Array<double>& gg) {
    Tensor<double> g(g_value, true);
    const std::vector<Tensor<double>> firsts = tg::grad<double>({f(inputs)}, inputs, {g}, graph());
    Tensor<double> total = Tensor<double>::scalar(0.0);
    for (const auto& d : firsts) {
        total = total + tg::sum(Tensor<double>(gg) * d);
    }
    std::vector<Tensor<double>> wrt = inputs;
    wrt.push_back(g);
    std::vector<Array<double>> out;
    if (!total.requires_grad()) {  // a first derivative that is a constant: nothing depends on it
        for (std::size_t i = 0; i < wrt.size(); ++i) {
            out.push_back(xt::zeros<double>({g_value.size()}));
        }
        return out;
    }
    tg::GradOptions o;
    o.allow_unused = true;
    for (const auto& d : tg::grad<double>({total}, wrt, {}, o)) {
        out.push_back(d.defined() ? d.value() : Array<double>(xt::zeros<double>({g_value.size()})));
    }
    return out;
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
    for (const auto& [name, f] : binary_ops()) {
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

TEST_CASE("an infinite, NaN or zero upstream gradient: PyTorch's answers, and no 0 * inf where the forward formed none") {
    // The upstream holds +-inf, NaN and 0 exactly where each op's local derivative is 0, infinite or
    // undefined. Where the derivative is a selection (relu, clamp, maximum) the gradient is picked,
    // not multiplied by a 0/1 mask: an infinite upstream leaves 0 where no gradient goes.
    const Array<double> gs = load("upstream_special");
    for (const auto& [name, ops] : unary_ops()) {
        SUBCASE(name.c_str()) {
            const Array<double> x = load(name + ".x");
            const auto [value, grad] = run<double>(ops.first, x, gs);
            check_same(grad, load(name + ".dx_special"), 1e-14, name + " gradient, special upstream");
            for (std::size_t i = 0; i < x.size(); ++i) {  // and one element at a time
                const auto [v1, g1] = run<double>(ops.first, Array<double>{x(i)}, Array<double>{gs(i)});
                check_same(g1, Array<double>{load(name + ".dx_special")(i)}, 1e-14, name + " one element, special upstream");
            }
        }
    }
    for (const auto& [name, f] : binary_ops()) {
        SUBCASE(name.c_str()) {
            Tensor<double> a(load(name + ".x"), true);
            Tensor<double> b(load(name + ".b"), true);
            f(a, b).backward(gs);
            check_same(a.grad(), load(name + ".dx_special"), 1e-15, name + " gradient of a, special upstream");
            check_same(b.grad(), load(name + ".db_special"), 1e-15, name + " gradient of b, special upstream");
        }
    }
}

TEST_CASE("double backward of every element-wise op at 0, -0, infinities and NaN gives PyTorch's answers") {
    const Array<double> g = load("upstream"), gg = load("upstream2");
    for (const auto& [name, ops] : unary_ops()) {
        SUBCASE(name.c_str()) {
            const auto f = ops.first;
            const auto got = double_backward([&](const auto& in) { return f(in[0]); }, {Tensor<double>(load(name + ".x"), true)},
                                             g, gg);
            check_same(got[0], load(name + ".ddx"), 1e-13, name + " d/dx of the first derivative");
            check_same(got[1], load(name + ".dgg"), 1e-13, name + " d/dg of the first derivative");
        }
    }
    for (const auto& [name, f] : binary_ops()) {
        SUBCASE(name.c_str()) {
            const Binary op = f;  // a C++17 lambda cannot capture a structured binding
            const auto got = double_backward([&](const auto& in) { return op(in[0], in[1]); },
                                             {Tensor<double>(load(name + ".x"), true), Tensor<double>(load(name + ".b"), true)},
                                             g, gg);
            check_same(got[0], load(name + ".dda"), 1e-13, name + " d/da of the first derivatives");
            check_same(got[1], load(name + ".ddb"), 1e-13, name + " d/db of the first derivatives");
            check_same(got[2], load(name + ".dgg"), 1e-13, name + " d/dg of the first derivatives");
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

namespace {

// A case recorded as <name>.x/.g/.y/.dx: f on x, backward with g.
void check_recorded(const std::string& name, const Unary& f) {
    Tensor<double> x(load(name + ".x"), true);
    const Tensor<double> y = f(x);
    y.backward(load(name + ".g"));
    check_same(y.value(), load(name + ".y"), 1e-14, name + " value");
    check_same(x.grad(), load(name + ".dx"), 1e-14, name + " gradient");
}

}  // namespace

TEST_CASE("reductions over slices of -inf, NaN and infinite upstreams give PyTorch's answers") {
    const std::map<std::string, Unary> cases{
        // xtensor's amax starts from the lowest finite value: a slice of -inf must still give -inf
        {"amax_neginf_row", [](const auto& x) { return tg::amax(x, {1}); }},
        {"amin_inf_row", [](const auto& x) { return tg::amin(x, {1}); }},
        {"amax_all_neginf", [](const auto& x) { return tg::amax(x); }},
        // amax: a NaN slice's gradient is NaN; max() without axes sends the gradient to the NaNs
        {"amax_nan_row", [](const auto& x) { return tg::amax(x, {1}); }},
        {"max_nan", [](const auto& x) { return tg::max(x); }},
        {"min_nan", [](const auto& x) { return tg::min(x); }},
        {"max_inf_upstream", [](const auto& x) { return tg::max(x); }},
        {"min_inf_upstream", [](const auto& x) { return tg::min(x); }},
        {"sum_inf_upstream", [](const auto& x) { return tg::sum(x, {0}); }},
        {"mean_nan_upstream", [](const auto& x) { return tg::mean(x, {1}); }},
        {"var_inf", [](const auto& x) { return tg::var(x, {1}); }},
        {"std_constant", [](const auto& x) { return tg::std(x, {1}); }},
        {"logsumexp_neginf_row", [](const auto& x) { return tg::logsumexp(x, {1}); }},
        {"logsumexp_inf", [](const auto& x) { return tg::logsumexp(x, {1}); }},
        {"softmax_inf_upstream", [](const auto& x) { return tg::softmax(x, 1); }},
    };
    for (const auto& [name, f] : cases) {
        SUBCASE(name.c_str()) { check_recorded(name, f); }
    }
}

TEST_CASE("amax and amin at every size: slices of -inf, +inf and NaN, infinite upstreams picked, not masked") {
    const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
    for (std::size_t n : {1, 2, 3, 4, 5, 7, 8, 9, 16, 17}) {
        CAPTURE(n);
        // row 0 all -inf (ties split evenly), row 1 a NaN at the end, row 2 ordinary with the maximum first
        Array<double> x = xt::zeros<double>({std::size_t(3), n});
        for (std::size_t j = 0; j < n; ++j) {
            x(0, j) = -inf;
            x(1, j) = double(j);
            x(2, j) = -double(j);
        }
        x(1, n - 1) = nan;
        Tensor<double> t(x, true);
        Tensor<double> m = tg::amax(t, {1});
        CHECK(m.value()(0) == -inf);
        CHECK(std::isnan(m.value()(1)));
        CHECK(m.value()(2) == 0.0);
        m.backward(Array<double>{2.0, 1.0, inf});
        for (std::size_t j = 0; j < n; ++j) {
            CHECK(t.grad()(0, j) == 2.0 / double(n));
            CHECK(std::isnan(t.grad()(1, j)));                   // PyTorch's amax: a NaN slice's gradient is NaN
            CHECK(t.grad()(2, j) == (j == 0 ? inf : 0.0));       // inf reaches the maximum only
        }
        // the same through amin on the negated rows, and max() over everything
        Tensor<double> u(Array<double>(-x), true);
        tg::amin(u, {1}).backward(Array<double>{2.0, 1.0, -inf});
        CHECK(u.grad()(0, 0) == 2.0 / double(n));
        CHECK(u.grad()(2, 0) == -inf);
        Tensor<double> v(x, true);
        tg::max(v).backward();
        CHECK(v.grad()(1, n - 1) == 1.0);  // the NaN was chosen
        CHECK(tg::sum(v.grad_tensor()).item() == 1.0);
    }
}

TEST_CASE("losses with infinite upstreams and class weights of 0 give PyTorch's answers") {
    const std::vector<std::int64_t> labels{0, 1, -100, 2};
    auto nll = [labels](tg::Reduction r, std::vector<double> weight = {}) {
        return [labels, r, weight](const Tensor<double>& x) {
            tg::NllOptions o;
            o.reduction = r;
            o.weight = weight;
            return tg::nll_loss(x, labels, o);
        };
    };
    auto ce = [labels](tg::Reduction r, std::vector<double> weight = {}) {
        return [labels, r, weight](const Tensor<double>& x) {
            tg::NllOptions o;
            o.reduction = r;
            o.weight = weight;
            return tg::nn::cross_entropy(x, labels, o);
        };
    };
    const std::map<std::string, Unary> cases{
        {"nll_sum_inf", nll(tg::Reduction::sum)},
        {"nll_mean_neginf", nll(tg::Reduction::mean)},
        {"nll_none_inf", nll(tg::Reduction::none)},
        {"nll_weight0_mean", nll(tg::Reduction::mean, {0.0, 0.0, 0.0})},
        {"nll_weight0_sum", nll(tg::Reduction::sum, {0.0, 1.0, 0.0})},
        {"cross_entropy_sum_inf", ce(tg::Reduction::sum)},
        {"cross_entropy_weight0_mean", ce(tg::Reduction::mean, {0.0, 0.0, 0.0})},
        {"mse_inf_upstream", [](const auto& x) { return tg::nn::mse(x, Tensor<double>::zeros(x.shape())); }},
    };
    for (const auto& [name, f] : cases) {
        SUBCASE(name.c_str()) { check_recorded(name, f); }
    }
}

TEST_CASE("layer norm of one sample (no batch dimensions) differentiated with create_graph gives PyTorch's answers") {
    for (const bool with_gamma : {true, false}) {
        const std::string name = with_gamma ? "layer_norm_1d" : "layer_norm_1d_no_gamma";
        CAPTURE(name);
        for (const bool fused : {true, false}) {
            CAPTURE(fused);
            Tensor<double> x(load(name + ".x"), true), beta(load(name + ".beta"), true);
            tg::OptionalTensor<double> gamma;
            std::vector<Tensor<double>> wrt{x, beta};
            if (with_gamma) {
                gamma = Tensor<double>(load(name + ".gamma"), true);
                wrt.push_back(*gamma);
            }
            const Tensor<double> y = fused ? tg::layernorm_fused<double>(x, {4}, gamma, beta, 1e-5)
                                     : tg::layernorm_composite<double>(x, {4}, gamma, beta, 1e-5);
            check_same(y.value(), load(name + ".y"), 1e-14, name + " value");
            const auto d = tg::grad<double>({y}, wrt, {Tensor<double>(load(name + ".seed"))}, graph());
            check_same(d[0].value(), load(name + ".dx"), 1e-13, name + " dx");
            check_same(d[1].value(), load(name + ".dbeta"), 1e-14, name + " dbeta");  // the seed itself: a sum over no axes
            if (with_gamma) {
                check_same(d[2].value(), load(name + ".dgamma"), 1e-13, name + " dgamma");
            }
            const auto dd = tg::grad<double>({tg::sum(d[0] * Tensor<double>(load(name + ".seed2")))}, {x});
            check_same(dd[0].value(), load(name + ".ddx"), 1e-12, name + " d/dx of dx");
        }
    }
}

TEST_CASE("group norm of tensors with an empty dimension: empty results, gradients of 0 (a sum of nothing)") {
    for (const bool fused : {true, false}) {
        CAPTURE(fused);
        auto gn = [fused](const Tensor<double>& x, std::size_t groups, const tg::OptionalTensor<double>& gamma,
                          const tg::OptionalTensor<double>& beta) {
            return fused ? tg::groupnorm_fused<double>(x, groups, gamma, beta, 1e-5) : tg::groupnorm_composite<double>(x, groups, gamma, beta, 1e-5);
        };
        SUBCASE("no samples") {
            Tensor<double> x = Tensor<double>::zeros({0, 4, 3}, true);
            Tensor<double> gamma = Tensor<double>::ones({4}, true), beta = Tensor<double>::zeros({4}, true);
            const Tensor<double> y = gn(x, 2, gamma, beta);
            CHECK(y.shape() == tg::Shape{0, 4, 3});
            tg::sum(y).backward();
            CHECK(x.grad().shape() == std::vector<std::size_t>{0, 4, 3});
            CHECK(gamma.grad() == xt::zeros<double>({4}));
            CHECK(beta.grad() == xt::zeros<double>({4}));
        }
        SUBCASE("no positions: each group holds no value") {
            // PyTorch 1.13's fused kernel gives NaN for dgamma here (its mean of nothing is NaN and
            // enters the sum); the sum over no values is 0, which the composite graph gives too
            Tensor<double> x = Tensor<double>::zeros({2, 3, 0}, true);
            Tensor<double> gamma(Array<double>{1.0, 2.0, 3.0}, true);
            const Tensor<double> y = gn(x, 3, gamma, std::nullopt);
            CHECK(y.shape() == tg::Shape{2, 3, 0});
            tg::sum(y).backward();
            CHECK(gamma.grad() == xt::zeros<double>({3}));
        }
    }
}

TEST_CASE("the rows found by the differential test against PyTorch 1.13, each as it was reported") {
    const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
    SUBCASE("clamp with lo above hi is min(max(x, lo), hi): hi everywhere, no gradient") {
        Tensor<double> x(Array<double>{0, 1, 2, 3}, true);
        Tensor<double> y = tg::clamp(x, 2.5, 1.0);
        CHECK(y.value() == Array<double>{1, 1, 1, 1});
        y.backward(Array<double>{1, 1, 1, 1});
        CHECK(x.grad() == Array<double>{0, 0, 0, 0});
    }
    SUBCASE("amax of a slice of -inf is -inf; its gradient split between the ties") {
        Tensor<double> x(Array<double>{{-inf, -inf}, {0, 1}}, true);
        Tensor<double> y = tg::amax(x, {1});
        CHECK(y.value() == Array<double>{-inf, 1});
        y.backward(Array<double>{1, 1});
        CHECK(x.grad() == Array<double>{{0.5, 0.5}, {0, 1}});
    }
    SUBCASE("max() of a tensor holding NaN sends the gradient to the NaN") {
        Tensor<double> x(Array<double>{1, nan, 2}, true);
        tg::max(x).backward();
        CHECK(x.grad() == Array<double>{0, 1, 0});
    }
    SUBCASE("max() with an infinite upstream: inf at the maximum, 0 elsewhere") {
        Tensor<double> x(Array<double>{1, 3, 2}, true);
        tg::max(x).backward(Array<double>(inf));
        CHECK(x.grad() == Array<double>{0, inf, 0});
    }
    SUBCASE("nll_loss and cross_entropy's nll with an infinite upstream: 0 where no gradient goes") {
        Tensor<double> logp(Array<double>{{-0.5, -1.0}, {-2.0, -0.25}}, true);
        tg::NllOptions o;
        o.reduction = tg::Reduction::sum;
        tg::nll_loss(logp, {0, 1}, o).backward(Array<double>(inf));
        CHECK(logp.grad() == Array<double>{{-inf, 0}, {0, -inf}});
    }
    SUBCASE("division by a broadcast 0: each term divided before the sum, so 0/0 gives NaN") {
        Tensor<double> a(Array<double>{0, 1}, true), b(Array<double>{0}, true);
        tg::sum(a / b).backward();
        CHECK(std::isnan(b.grad()(0)));
        for (std::size_t n : {1, 2, 3, 4, 8, 9, 17}) {  // at every size, a row of b and a scalar b
            CAPTURE(n);
            Tensor<double> rows = Tensor<double>::ones({n, 2}, true), row(Array<double>{0, 2}, true);
            rows.mutable_value()(0, 0) = 0.0;  // one 0/0 term among n - 1 terms of 1/0
            tg::sum(rows / row).backward();
            CHECK(std::isnan(row.grad()(0)));
            CHECK(row.grad()(1) == -double(n) / 4);  // finite b: summed first, divided once
            Tensor<double> all = Tensor<double>::ones({n}, true), zero(Array<double>(0.0), true);
            tg::sum(all / zero).backward();
            CHECK(zero.grad()() == -std::numeric_limits<double>::infinity());  // 1/0 terms only: -inf
        }
    }
    SUBCASE("the second derivative of sum(pow(x, 0)) at 0 is 0") {
        Tensor<double> x(Array<double>{0, 1}, true);
        const Tensor<double> d = tg::grad<double>({tg::sum(tg::pow(x, 0.0))}, {x}, {}, graph())[0];
        CHECK(d.value() == Array<double>{0, 0});
        CHECK_FALSE(d.requires_grad());  // a constant, as PyTorch's: nothing to differentiate again
        // inside a larger function its second derivative adds 0, not 0 * inf: d2/dx2 (x^0 + x^2) = 2
        const Tensor<double> d1 = tg::grad<double>({tg::sum(tg::pow(x, 0.0) + tg::pow(x, 2.0))}, {x}, {}, graph())[0];
        const Tensor<double> d2 = tg::grad<double>({tg::sum(d1)}, {x})[0];
        CHECK(d2.value() == Array<double>{2, 2});
    }
    SUBCASE("layernorm_fused of one sample with beta and no gamma, under create_graph: dbeta is the seed") {
        Tensor<double> x(Array<double>{1, 2, 3, 5}, true), beta = Tensor<double>::zeros({4}, true);
        const Tensor<double> y = tg::layernorm_fused<double>(x, {4}, std::nullopt, beta, 1e-5);
        const auto d = tg::grad<double>({y}, {beta}, {Tensor<double>(Array<double>{1, 2, 3, 4})}, graph());
        CHECK(d[0].value() == Array<double>{1, 2, 3, 4});
    }
    SUBCASE("groupnorm_composite of zeros [0, 4, 3] is empty [0, 4, 3]") {
        CHECK(tg::groupnorm_composite<double>(Tensor<double>::zeros({0, 4, 3}), 2, std::nullopt, std::nullopt, 1e-5).shape() == tg::Shape{0, 4, 3});
    }
    SUBCASE("the mean nll_loss whose counted rows all weigh 0 is 0/0: NaN, and NaN at the picked entries") {
        Tensor<double> logp(Array<double>{{-0.5, -1.0}, {-2.0, -0.25}}, true);
        tg::NllOptions o;
        o.weight = {0.0, 0.0};
        Tensor<double> l = tg::nll_loss(logp, {0, 1}, o);
        CHECK(std::isnan(l.item()));
        l.backward();
        CHECK(std::isnan(logp.grad()(0, 0)));
        CHECK(std::isnan(logp.grad()(1, 1)));
        CHECK(logp.grad()(0, 1) == 0.0);
    }
}

TEST_CASE("clamp without either bound is refused, as PyTorch refuses it") {
    Tensor<double> x(Array<double>{1, 2});
    CHECK_THROWS_AS(tg::clamp(x, std::nullopt, std::nullopt), tg::ValueError);
    try {
        tg::clamp(x, std::nullopt, std::nullopt);
    } catch (const tg::ValueError& e) {
        CHECK(std::string(e.what()).find("clamp: ") == 0);
    }
}
