// Element-wise ops. Each op: the forward value, then its node with the derivative in a comment
// and the backward lambda right below it. `g` is always dL/d(output).
#include "ops/elementwise.hpp"

#include <fmt/format.h>

#include <cmath>

#include "ops/broadcast.hpp"
#include "ops/loops.hpp"

namespace tg {

namespace {

// The gradient for input i of a broadcasting binary op, or nothing if it needs none.
template <class T, class F>
Array<T> grad_for(const Node<T>& n, std::size_t i, F&& make) {
    return n.needs_grad(i) ? sum_to_shape<T>(Array<T>(make()), n.input_shape(i)) : Array<T>();
}

// The same for an input whose gradient is the upstream gradient itself: summed straight from g.
template <class T>
Array<T> pass_through(const Node<T>& n, std::size_t i, const Array<T>& g) {
    return n.needs_grad(i) ? sum_to_shape<T>(g, n.input_shape(i)) : Array<T>();
}

// When a has the output's shape, its gradient is the output's gradient unchanged: the engine
// moves it there (Node::identity_input) instead of the rule copying it.
template <class T>
void hand_over_to_first(const Tensor<T>& y, bool same_shape) {
    if (same_shape && y.grad_fn()) {
        y.grad_fn()->identity_input = 0;
    }
}

// d(a/b)/db = -g*a/b^2, computed as -g*(a/b)/b (as PyTorch does: b^2 underflows to 0 for
// |b| < 1e-154 where a/b/b may still be finite). When b is repeated along the output (a row or a
// scalar, as the std in batch norm's xc / std), its gradient is a sum over the repeats, and 1/b^2
// is the same in every term: the product g*a is summed first and divided once per element of b,
// not once per output element.
template <class T>
Array<T> div_grad_b(const Node<T>& n, const Array<T>& g, const Array<T>& av, const Array<T>& bv) {
    if (!n.needs_grad(1)) {
        return Array<T>();
    }
    const Shape out = to_shape(g.shape());
    const loops::Pattern pb = loops::pattern(bv, out);
    if (pb == loops::Pattern::row || pb == loops::Pattern::scalar) {
        if (auto ga = loops::binary(g, av, out, [](T x, T y) { return x * y; })) {
            Array<T> db = sum_to_shape<T>(std::move(*ga), n.input_shape(1));
            T* d = db.data();
            const T* b = bv.data();
            for (std::size_t i = 0; i < db.size(); ++i) {
                d[i] = -(d[i] / b[i]) / b[i];
            }
            return db;
        }
    }
    return grad_for<T>(n, 1, [&] { return -g * ((av / bv) / bv); });
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

}  // namespace

template <class T>
Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b) {
    const Shape shape = broadcast_shapes("add", a.shape(), b.shape());
    auto fast = loops::binary(a.value(), b.value(), shape, [](T x, T y) { return x + y; });
    Tensor<T> out(fast ? std::move(*fast) : Array<T>(a.value() + b.value()));
    // d(a+b)/da = 1, d(a+b)/db = 1: the gradient passes through to both, summed over broadcasts
    Tensor<T> y = record<T>(out, "add", {a, b}, {}, "d(a+b)/da = g, d(a+b)/db = g",
                            [](const Node<T>& n, const Array<T>& g) {
                                return grads<T>(n.identity_input == 0 ? Array<T>() : pass_through(n, 0, g),
                                                pass_through(n, 1, g));
                            });
    hand_over_to_first(y, a.shape() == shape);
    return y;
}

template <class T>
Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b) {
    const Shape shape = broadcast_shapes("sub", a.shape(), b.shape());
    auto fast = loops::binary(a.value(), b.value(), shape, [](T x, T y) { return x - y; });
    Tensor<T> out(fast ? std::move(*fast) : Array<T>(a.value() - b.value()));
    // d(a-b)/da = 1, d(a-b)/db = -1
    Tensor<T> y = record<T>(out, "sub", {a, b}, {}, "d(a-b)/da = g, d(a-b)/db = -g",
                            [](const Node<T>& n, const Array<T>& g) {
                                Array<T> db = pass_through(n, 1, g);
                                db *= T(-1);
                                return grads<T>(n.identity_input == 0 ? Array<T>() : pass_through(n, 0, g),
                                                std::move(db));
                            });
    hand_over_to_first(y, a.shape() == shape);
    return y;
}

template <class T>
Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b) {
    const Shape shape = broadcast_shapes("mul", a.shape(), b.shape());
    auto fast = loops::binary(a.value(), b.value(), shape, [](T x, T y) { return x * y; });
    Tensor<T> out(fast ? std::move(*fast) : Array<T>(a.value() * b.value()));
    // d(a*b)/da = b, d(a*b)/db = a
    return record<T>(out, "mul", {a, b}, {a, b}, "d(a*b)/da = g*b, d(a*b)/db = g*a",
                     [](const Node<T>& n, const Array<T>& g) {
                         auto times = [&](const Array<T>& other, std::size_t i) {
                             if (!n.needs_grad(i)) {
                                 return Array<T>();
                             }
                             auto fast = loops::binary(g, other, to_shape(g.shape()), [](T x, T y) { return x * y; });
                             return sum_to_shape<T>(fast ? std::move(*fast) : Array<T>(g * other), n.input_shape(i));
                         };
                         return grads<T>(times(n.saved_value(1), 0), times(n.saved_value(0), 1));
                     });
}

template <class T>
Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b) {
    const Shape shape = broadcast_shapes("div", a.shape(), b.shape());
    auto fast = loops::binary(a.value(), b.value(), shape, [](T x, T y) { return x / y; });
    Tensor<T> out(fast ? std::move(*fast) : Array<T>(a.value() / b.value()));
    // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
    return record<T>(out, "div", {a, b}, {a, b}, "d(a/b)/da = g/b, d(a/b)/db = -g*a/b^2",
                     [](const Node<T>& n, const Array<T>& g) {
                         const Array<T>& av = n.saved_value(0);
                         const Array<T>& bv = n.saved_value(1);
                         auto fast = n.needs_grad(0) ? loops::binary(g, bv, to_shape(g.shape()), [](T x, T y) { return x / y; })
                                                     : std::nullopt;
                         return grads<T>(
                             fast ? sum_to_shape<T>(std::move(*fast), n.input_shape(0)) : grad_for<T>(n, 0, [&] { return g / bv; }),
                             div_grad_b(n, g, av, bv));
                     });
}

template <class T>
Tensor<T> neg(const Tensor<T>& x) {
    Tensor<T> out(Array<T>(-x.value()));
    // d(-x)/dx = -1
    return record<T>(out, "neg", {x}, {}, "d(-x)/dx = -g",
                     [](const Node<T>&, const Array<T>& g) { return grads<T>(-g); });
}

template <class T>
Tensor<T> pow(const Tensor<T>& x, double exponent) {
    const T p = static_cast<T>(exponent);
    Tensor<T> out(with_power(p, [&](auto power) { return loops::unary(x.value(), power); }));
    // d(x^p)/dx = p * x^(p-1), and 0 for p = 0 even where x^(p-1) is infinite (as PyTorch)
    Tensor<T> y = record<T>(out, "pow", {x}, {x}, "d(x^p)/dx = g*p*x^(p-1)",
                     [p](const Node<T>& n, const Array<T>& g) {
                         const Array<T>& xv = n.saved_value(0);
                         if (p == T(0)) {
                             return grads<T>(Array<T>(xt::zeros<T>(xv.shape())));
                         }
                         return grads<T>(with_power(p - T(1), [&](auto power) {
                             auto rule = [p, power](T v, T up) { return up * (p * power(v)); };
                             return std::move(*loops::binary(xv, g, to_shape(g.shape()), rule));
                         }));
                     });
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
                     [](const Node<T>& n, const Array<T>& g) {
                         return grads<T>(Array<T>(g / (T(2) * n.saved_value(0))));
                     });
}

template <class T>
Tensor<T> exp(const Tensor<T>& x) {
    Tensor<T> out(Array<T>(xt::exp(x.value())));
    // d(e^x)/dx = e^x
    return record<T>(out, "exp", {x}, {out}, "d(exp x)/dx = g*exp(x)",
                     [](const Node<T>& n, const Array<T>& g) {
                         return grads<T>(Array<T>(g * n.saved_value(0)));
                     });
}

template <class T>
Tensor<T> log(const Tensor<T>& x) {
    Tensor<T> out(Array<T>(xt::log(x.value())));
    // d(log x)/dx = 1/x
    return record<T>(out, "log", {x}, {x}, "d(log x)/dx = g/x",
                     [](const Node<T>& n, const Array<T>& g) {
                         return grads<T>(Array<T>(g / n.saved_value(0)));
                     });
}

template <class T>
Tensor<T> abs(const Tensor<T>& x) {
    Tensor<T> out(Array<T>(xt::abs(x.value())));
    // d|x|/dx = sign(x), taken as 0 at 0 (as PyTorch does)
    return record<T>(out, "abs", {x}, {x}, "d|x|/dx = g*sign(x)",
                     [](const Node<T>& n, const Array<T>& g) {
                         // sign(NaN) is 0, as PyTorch's sgn
                         auto sign_times = [](T x, T y) { return y * T((x > T(0)) - (x < T(0))); };
                         return grads<T>(std::move(*loops::binary(n.saved_value(0), g, to_shape(g.shape()), sign_times)));
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
