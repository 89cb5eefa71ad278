#include "ops/activations.hpp"

#include <fmt/format.h>

#include "ops/loops.hpp"
#include "ops/choice.hpp"
#include "ops/elementwise.hpp"
#include "ops/shape.hpp"
#include "ops/reductions.hpp"

namespace tg {

namespace {

// g where y > 0, else 0: relu's backward as an op of its own, so that it can be differentiated
// again. It is linear in g (its derivative in g is itself) and flat in y.
template <class T>
Tensor<T> relu_backward(const Tensor<T>& g, const Tensor<T>& y) {
    Tensor<T> out(loops::zip(y.value(), g.value(), [](T v, T d) { return v <= T(0) ? T(0) : d; }));
    return record<T>(out, "relu_backward", {g}, {y}, "d/dg = u where y > 0, else 0",
                     [](const Node<T>& n, const Tensor<T>& u) { return grads<T>(relu_backward(u, n.saved(0))); });
}

}  // namespace

template <class T>
Tensor<T> relu(const Tensor<T>& x) {
    // max(x, 0) would turn NaN into 0 and hide it; NaN < 0 is false, so NaN passes through.
    Tensor<T> out(loops::unary(x.value(), [](T v) { return v < T(0) ? T(0) : v; }));
    // d relu(x)/dx = 1 where relu(x) > 0, else 0 (0 at 0; g where the value is NaN: PyTorch's
    // rule, which zeroes the gradient only where the output is <= 0)
    return record<T>(out, "relu", {x}, {out}, "d relu(x)/dx = g*(x > 0)",
                     [](const Node<T>& n, const Tensor<T>& g) { return grads<T>(relu_backward(g, n.saved(0))); });
}

template <class T>
Tensor<T> tanh(const Tensor<T>& x) {
    Tensor<T> out(Array<T>(xt::tanh(x.value())));
    // d tanh(x)/dx = 1 - tanh(x)^2
    return record<T>(out, "tanh", {x}, {out}, "d tanh(x)/dx = g*(1 - y^2)",
                     [](const Node<T>& n, const Tensor<T>& g) {
                         const Tensor<T> y = n.saved(0);
                         return grads<T>(mul(g, sub(1.0, mul(y, y))));
                     });
}

template <class T>
Tensor<T> sigmoid(const Tensor<T>& x) {
    // 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below, so neither branch overflows.
    const Array<T>& v = x.value();
    Tensor<T> out(Array<T>(xt::where(v >= T(0), T(1) / (T(1) + xt::exp(-v)),
                                     xt::exp(v) / (T(1) + xt::exp(v)))));
    // d sigmoid(x)/dx = y * (1 - y)
    return record<T>(out, "sigmoid", {x}, {out}, "d sigmoid(x)/dx = g*y*(1 - y)",
                     [](const Node<T>& n, const Tensor<T>& g) {
                         const Tensor<T> y = n.saved(0);
                         return grads<T>(mul(mul(g, y), sub(1.0, y)));
                     });
}

template <class T>
Tensor<T> log_softmax(const Tensor<T>& x, int axis) {
    const Axes ax = normalize_axes("log_softmax", {axis}, x.dim());
    const Shape kept = keepdims_shape(x.shape(), ax);
    Array<T> value = tg::empty<T>(x.shape());
    if (x.numel() > 0) {  // an empty tensor has an empty result (and no maximum to shift by)
        Array<T> m = xt::amax(x.value(), ax, xt::evaluation_strategy::immediate);
        m.reshape(kept);
        Array<T> shifted = x.value() - m;
        Array<T> lse = xt::sum(xt::exp(shifted), ax, xt::evaluation_strategy::immediate);
        lse = xt::log(lse);
        lse.reshape(kept);
        value = shifted - lse;
    }
    // y = x - logsumexp(x): dy_i/dx_j = [i == j] - softmax_j, so dx = g - softmax * sum(g)
    Tensor<T> out(std::move(value));
    return record<T>(out, "log_softmax", {x}, {out}, "dx = g - exp(y)*sum(g, axis)",
                     [axis](const Node<T>& n, const Tensor<T>& g) {
                         if (g.numel() == 0) {
                             return grads<T>(g);
                         }
                         return grads<T>(sub(g, mul(exp(n.saved(0)), sum(g, {axis}, true))));
                     });
}

template <class T>
Tensor<T> softmax(const Tensor<T>& x, int axis) {
    const Axes ax = normalize_axes("softmax", {axis}, x.dim());
    const Shape kept = keepdims_shape(x.shape(), ax);
    Array<T> value = tg::empty<T>(x.shape());
    if (x.numel() > 0) {
        Array<T> m = xt::amax(x.value(), ax, xt::evaluation_strategy::immediate);
        m.reshape(kept);
        Array<T> e = xt::exp(x.value() - m);
        Array<T> s = xt::sum(e, ax, xt::evaluation_strategy::immediate);
        s.reshape(kept);
        value = e / s;
    }
    Tensor<T> out(std::move(value));
    // dy_i/dx_j = y_i ([i == j] - y_j), so dx = y * (g - sum(g * y, axis))
    return record<T>(out, "softmax", {x}, {out}, "dx = y * (g - sum(g*y, axis))",
                     [axis](const Node<T>& n, const Tensor<T>& g) {
                         if (g.numel() == 0) {
                             return grads<T>(g);
                         }
                         const Tensor<T> y = n.saved(0);
                         return grads<T>(mul(y, sub(g, sum(mul(g, y), {axis}, true))));
                     });
}

#define TG_INSTANTIATE(T)                         \
    template Tensor<T> relu(const Tensor<T>&);    \
    template Tensor<T> tanh(const Tensor<T>&);    \
    template Tensor<T> sigmoid(const Tensor<T>&); \
    template Tensor<T> log_softmax(const Tensor<T>&, int);        \
    template Tensor<T> softmax(const Tensor<T>&, int);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg
