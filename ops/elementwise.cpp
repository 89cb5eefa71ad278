// Element-wise ops. Each op: the forward value, then its node with the derivative in a comment
// and the backward lambda right below it. `g` is always dL/d(output).
#include "ops/elementwise.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "ops/broadcast.hpp"
#include "ops/loops.hpp"

namespace tg {

namespace {

// The gradient for input i of a broadcasting binary op, summed back to that input's shape, or
// none if it needs no gradient (then `make` is not even called).
template <class T, class F>
Tensor<T> grad_for(const Node<T>& n, std::size_t i, F&& make) {
    return n.needs_grad(i) ? sum_to(make(), n.input_shape(i)) : Tensor<T>::none();
}

// Calls f with a function computing v^p the way PyTorch does: the exponents 1, 2, 3, -1, -2,
// 0.5 and -0.5 by products, division and sqrt (so that sqrt's and 1/x's answers at -0 and -inf
// hold: pow(-inf, 0.5) is NaN, pow(-0, -0.5) is -inf), any other by std::pow. Never xt::pow: its
// SIMD version gives 0 for 0^p with p <= 0 in full SIMD blocks.
template <class T, class F>
Array<T> with_power(T p, F&& f) {
    if (p == T(1)) return f([](T v) { return v; });
    if (p == T(2)) return f([](T v) { return v * v; });
    if (p == T(3)) return f([](T v) { return v * v * v; });
    if (p == T(-1)) return f([](T v) { return T(1) / v; });
    if (p == T(-2)) return f([](T v) { return T(1) / (v * v); });
    if (p == T(0.5)) return f([](T v) { return std::sqrt(v); });
    if (p == T(-0.5)) return f([](T v) { return T(1) / std::sqrt(v); });
    return f([p](T v) { return std::pow(v, p); });
}

// g * p * x^(p-1) in one pass: pow's backward as an op of its own, so that it can be
// differentiated again. It is linear in g, and its derivative in x is the same op one power down:
// d/dx (g p x^(p-1)) = p * pow_backward(g, x, p - 1).
template <class T>
Tensor<T> pow_backward(const Tensor<T>& g, const Tensor<T>& x, T p) {
    if (p == T(0)) {
        // x^0 is the constant 1: its derivative is the constant 0, with no history (as PyTorch's
        // zeros_like), so no higher derivative forms 0 * x^-1 = 0 * inf at x = 0
        return Tensor<T>::zeros(x.shape());
    }
    Tensor<T> out(with_power(p - T(1), [&](auto power) {
        auto rule = [p, power](T v, T up) { return up * (p * power(v)); };
        return loops::zip(x.value(), g.value(), rule);
    }));
    return record<T>(out, "pow_backward", {g, x}, {g, x}, "d/dg = p*x^(p-1), d/dx = g*p*(p-1)*x^(p-2)",
                     [p](const Node<T>& n, const Tensor<T>& u) {
                         return grads<T>(n.needs_grad(0) ? pow_backward(u, n.saved(1), p) : Tensor<T>::none(),
                                         n.needs_grad(1) ? mul(pow_backward(mul(u, n.saved(0)), n.saved(1), p - T(1)), double(p))
                                                         : Tensor<T>::none());
                     });
}

template <class T>
bool all_finite_nonzero(const Array<T>& v) {
    return std::all_of(v.begin(), v.end(), [](T e) { return e != T(0) && std::isfinite(e); });
}

}  // namespace

template <class T>
Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b) {
    Tensor<T> out(loops::binary("add", a.value(), b.value(), [](const auto& x, const auto& y) { return x + y; }));
    // d(a+b)/da = 1, d(a+b)/db = 1: the gradient passes through to both, summed over broadcasts
    return record<T>(out, "add", {a, b}, {}, "d(a+b)/da = g, d(a+b)/db = g",
                     [](const Node<T>& n, const Tensor<T>& g) {
                         return grads<T>(grad_for(n, 0, [&] { return g; }), grad_for(n, 1, [&] { return g; }));
                     });
}

template <class T>
Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b) {
    Tensor<T> out(loops::binary("sub", a.value(), b.value(), [](const auto& x, const auto& y) { return x - y; }));
    // d(a-b)/da = 1, d(a-b)/db = -1
    return record<T>(out, "sub", {a, b}, {}, "d(a-b)/da = g, d(a-b)/db = -g",
                     [](const Node<T>& n, const Tensor<T>& g) {
                         // b's gradient is summed before it is negated: fewer values to negate
                         return grads<T>(grad_for(n, 0, [&] { return g; }),
                                         n.needs_grad(1) ? neg(sum_to(g, n.input_shape(1))) : Tensor<T>::none());
                     });
}

template <class T>
Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b) {
    Tensor<T> out(loops::binary("mul", a.value(), b.value(), [](const auto& x, const auto& y) { return x * y; }));
    // d(a*b)/da = b, d(a*b)/db = a
    return record<T>(out, "mul", {a, b}, {a, b}, "d(a*b)/da = g*b, d(a*b)/db = g*a",
                     [](const Node<T>& n, const Tensor<T>& g) {
                         return grads<T>(grad_for(n, 0, [&] { return mul(g, n.saved(1)); }),
                                         grad_for(n, 1, [&] { return mul(g, n.saved(0)); }));
                     });
}

template <class T>
Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b) {
    Tensor<T> out(loops::binary("div", a.value(), b.value(), [](const auto& x, const auto& y) { return x / y; }));
    // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
    return record<T>(out, "div", {a, b}, {a, b}, "d(a/b)/da = g/b, d(a/b)/db = -g*a/b^2",
                     [](const Node<T>& n, const Tensor<T>& g) {
                         const Tensor<T> a = n.saved(0), b = n.saved(1);
                         Tensor<T> db = Tensor<T>::none();
                         const bool repeated = n.input_shape(1) != g.shape();
                         if (n.needs_grad(1) && (!repeated || !all_finite_nonzero(b.value()))) {
                             // -g*((a/b)/b) term by term, as PyTorch (b^2 may underflow); summed back
                             // over b's repeats only after each term is divided, so that 0/0 in one
                             // term gives NaN instead of hiding in a sum
                             db = sum_to(neg(mul(g, div(div(a, b), b))), n.input_shape(1));
                         } else if (n.needs_grad(1)) {
                             // b repeated along the output (a row, a scalar: the std in xc / std), finite
                             // and non-zero: 1/b^2 is the same in every term of its sum, so g*a is summed
                             // first and divided once
                             db = div(div(neg(sum_to(mul(g, a), n.input_shape(1))), b), b);
                         }
                         return grads<T>(grad_for(n, 0, [&] { return div(g, b); }), db);
                     });
}

template <class T>
Tensor<T> neg(const Tensor<T>& x) {
    Tensor<T> out(Array<T>(-x.value()));
    // d(-x)/dx = -1
    return record<T>(out, "neg", {x}, {}, "d(-x)/dx = -g",
                     [](const Node<T>&, const Tensor<T>& g) { return grads<T>(neg(g)); });
}

template <class T>
Tensor<T> pow(const Tensor<T>& x, double exponent) {
    const T p = static_cast<T>(exponent);
    Tensor<T> out(with_power(p, [&](auto power) { return loops::unary(x.value(), power); }));
    // d(x^p)/dx = p * x^(p-1), and 0 for p = 0 even where x^(p-1) is infinite (as PyTorch)
    Tensor<T> y = record<T>(out, "pow", {x}, {x}, "d(x^p)/dx = g*p*x^(p-1)",
                     [p](const Node<T>& n, const Tensor<T>& g) { return grads<T>(pow_backward(g, n.saved(0), p)); });
    if (y.grad_fn()) {
        y.grad_fn()->detail = fmt::format("{:g}", exponent);
    }
    return y;
}

template <class T>
Tensor<T> sqrt(const Tensor<T>& x) {
    Tensor<T> out(Array<T>(xt::sqrt(x.value())));
    // d(sqrt x)/dx = 1 / (2 sqrt x): saves the output, not the input
    return record<T>(out, "sqrt", {x}, {out}, "d(sqrt x)/dx = g/(2*sqrt(x))",
                     [](const Node<T>& n, const Tensor<T>& g) { return grads<T>(div(g, mul(2.0, n.saved(0)))); });
}

template <class T>
Tensor<T> exp(const Tensor<T>& x) {
    Tensor<T> out(Array<T>(xt::exp(x.value())));
    // d(e^x)/dx = e^x
    return record<T>(out, "exp", {x}, {out}, "d(exp x)/dx = g*exp(x)",
                     [](const Node<T>& n, const Tensor<T>& g) { return grads<T>(mul(g, n.saved(0))); });
}

template <class T>
Tensor<T> log(const Tensor<T>& x) {
    Tensor<T> out(Array<T>(xt::log(x.value())));
    // d(log x)/dx = 1/x
    return record<T>(out, "log", {x}, {x}, "d(log x)/dx = g/x",
                     [](const Node<T>& n, const Tensor<T>& g) { return grads<T>(div(g, n.saved(0))); });
}

template <class T>
Tensor<T> abs(const Tensor<T>& x) {
    Tensor<T> out(Array<T>(xt::abs(x.value())));
    // d|x|/dx = sign(x), taken as 0 at 0 (as PyTorch does)
    return record<T>(out, "abs", {x}, {x}, "d|x|/dx = g*sign(x)",
                     [](const Node<T>& n, const Tensor<T>& g) {
                         // sign(x) is a constant here (its derivative is 0 almost everywhere); sign(NaN)
                         // is 0, as PyTorch's sgn
                         const Tensor<T> sign(loops::unary(n.saved_value(0), [](T v) { return T((v > T(0)) - (v < T(0))); }));
                         return grads<T>(mul(g, sign));
                     });
}

#define TG_INSTANTIATE(T)                                         \
    template Tensor<T> add(const Tensor<T>&, const Tensor<T>&);   \
    template Tensor<T> sub(const Tensor<T>&, const Tensor<T>&);   \
    template Tensor<T> mul(const Tensor<T>&, const Tensor<T>&);   \
    template Tensor<T> div(const Tensor<T>&, const Tensor<T>&);   \
    template Tensor<T> neg(const Tensor<T>&);                     \
    template Tensor<T> pow(const Tensor<T>&, double);             \
    template Tensor<T> sqrt(const Tensor<T>&);                    \
    template Tensor<T> exp(const Tensor<T>&);                     \
    template Tensor<T> log(const Tensor<T>&);                     \
    template Tensor<T> abs(const Tensor<T>&);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg
