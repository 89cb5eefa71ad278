#include "ops/choice.hpp"

#include <cmath>

#include "ops/broadcast.hpp"
#include "ops/elementwise.hpp"

namespace tg {

template <class T>
Tensor<T> clamp(const Tensor<T>& x, std::optional<double> lo, std::optional<double> hi) {
    if (!lo && !hi) {
        throw ValueError("clamp: neither lo nor hi is given, so there is nothing to clamp to; give at least one "
                         "bound (PyTorch refuses this too)");
    }
    const T l = lo ? static_cast<T>(*lo) : -std::numeric_limits<T>::infinity();
    const T h = hi ? static_cast<T>(*hi) : std::numeric_limits<T>::infinity();
    Array<T> out = x.value();
    for (auto& v : out) {
        // min(max(x, lo), hi), in that order: with lo > hi every value becomes hi (PyTorch's rule).
        // NaN compares false both ways and stays.
        v = v < l ? l : v;
        v = v > h ? h : v;
    }
    // d clamp(x)/dx = 1 where lo <= x <= hi, else 0
    return record<T>(Tensor<T>(std::move(out)), "clamp", {x}, {x}, "dx = g where lo <= x <= hi, else 0",
                     [l, h](const Node<T>& n, const Tensor<T>& g) {
                         const Array<T>& xv = n.saved_value(0);
                         return grads<T>(tg::where(Array<bool>(xv >= l && xv <= h), g, Tensor<T>::scalar(T(0))));
                     });
}

namespace {

template <class T>
Tensor<T> pick(const char* op, const Tensor<T>& a, const Tensor<T>& b, bool larger) {
    const Shape shape = broadcast_shapes(op, a.shape(), b.shape());
    const Array<T> av = broadcast_to<T>(a.value(), shape), bv = broadcast_to<T>(b.value(), shape);
    Array<T> out = tg::empty<T>(shape);
    for (std::size_t i = 0; i < out.size(); ++i) {
        const T x = av.data()[i], y = bv.data()[i];
        out.data()[i] = std::isnan(x) || std::isnan(y) ? std::numeric_limits<T>::quiet_NaN() : (larger ? std::max(x, y) : std::min(x, y));
    }
    // the gradient to the chosen side: all of g where it wins, half where they tie, none where it loses
    return record<T>(Tensor<T>(std::move(out)), op, {a, b}, {a, b},
                     larger ? "da = g where a > b (g/2 where a == b), db = g where b > a"
                            : "da = g where a < b (g/2 where a == b), db = g where b < a",
                     [larger](const Node<T>& n, const Tensor<T>& g) {
                         const Shape s = g.shape();
                         const Array<T> x = broadcast_to<T>(n.saved_value(0), s), y = broadcast_to<T>(n.saved_value(1), s);
                         // PyTorch's rule: g (halved on a tie), zeroed for the side that lost; with a NaN
                         // nothing compares, so both sides get g
                         const Array<bool> tie = xt::equal(x, y);
                         const Array<bool> a_lost = larger ? Array<bool>(x < y) : Array<bool>(x > y);
                         const Array<bool> b_lost = larger ? Array<bool>(x > y) : Array<bool>(x < y);
                         const Tensor<T> zero = Tensor<T>::scalar(T(0));
                         const Tensor<T> share = tg::where(tie, div(g, 2.0), g);
                         return grads<T>(n.needs_grad(0) ? sum_to(tg::where(a_lost, zero, share), n.input_shape(0)) : Tensor<T>::none(),
                                         n.needs_grad(1) ? sum_to(tg::where(b_lost, zero, share), n.input_shape(1)) : Tensor<T>::none());
                     });
}

}  // namespace

template <class T>
Tensor<T> maximum(const Tensor<T>& a, const Tensor<T>& b) {
    return pick("maximum", a, b, true);
}

template <class T>
Tensor<T> minimum(const Tensor<T>& a, const Tensor<T>& b) {
    return pick("minimum", a, b, false);
}

template <class T>
Tensor<T> where(const Array<bool>& cond, const Tensor<T>& a, const Tensor<T>& b) {
    const Shape shape = broadcast_shapes("where", broadcast_shapes("where", cond.shape(), a.shape()), b.shape());
    const Array<bool> c = xt::broadcast(cond, shape);
    Array<T> out = xt::where(c, broadcast_to<T>(a.value(), shape), broadcast_to<T>(b.value(), shape));
    // da = g where cond, db = g where not cond, each summed back over its broadcast axes
    return record<T>(Tensor<T>(std::move(out)), "where", {a, b}, {}, "da = g where cond, db = g elsewhere",
                     [c](const Node<T>& n, const Tensor<T>& g) {
                         const Tensor<T> zero = Tensor<T>::scalar(T(0));
                         return grads<T>(n.needs_grad(0) ? sum_to(tg::where(c, g, zero), n.input_shape(0)) : Tensor<T>::none(),
                                         n.needs_grad(1) ? sum_to(tg::where(c, zero, g), n.input_shape(1)) : Tensor<T>::none());
                     });
}

#define TG_INSTANTIATE(T)                                                                          \
    template Tensor<T> clamp(const Tensor<T>&, std::optional<double>, std::optional<double>);      \
    template Tensor<T> maximum(const Tensor<T>&, const Tensor<T>&);                                \
    template Tensor<T> minimum(const Tensor<T>&, const Tensor<T>&);                                \
    template Tensor<T> where(const Array<bool>&, const Tensor<T>&, const Tensor<T>&);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg
