#include "ops/statistics.hpp"

#include <fmt/format.h>

#include <cmath>

#include "ops/broadcast.hpp"
#include "ops/reductions.hpp"

namespace tg {

namespace {

// A reduced array with the reduced axes kept as size 1, to broadcast back against x.
template <class T>
Array<T> kept(Array<T> a, const Shape& keep) {
    a.reshape(keep);
    return a;
}

// `y` (of the kept shape) as the op's result: reshaped to drop the axes unless keepdims.
template <class T>
Array<T> result(Array<T> y, const Shape& in, const Axes& axes, bool keepdims) {
    if (keepdims) {
        return y;
    }
    Shape out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (std::find(axes.begin(), axes.end(), i) == axes.end()) {
            out.push_back(in[i]);
        }
    }
    y.reshape(out);
    return y;
}

// The sum over `axes`, kept as size-1 axes; a sum of nothing is 0 (xtensor's reducer cannot take
// an empty array).
template <class T>
Array<T> sum_kept(const Array<T>& a, const Axes& axes, const Shape& keep) {
    if (a.size() == 0) {
        return xt::zeros<T>(keep);
    }
    Array<T> s = xt::sum(a, axes, xt::evaluation_strategy::immediate);
    s.reshape(keep);
    return s;
}

std::size_t count_of(const Shape& in, const Axes& axes) {
    std::size_t n = 1;
    for (std::size_t a : axes) {
        n *= in[a];
    }
    return n;
}

template <class T>
Tensor<T> extreme(const char* op, const Tensor<T>& x, const std::vector<int>& axis_list, bool keepdims, bool largest) {
    const Axes axes = normalize_axes(op, axis_list, x.dim());
    const Shape in = x.shape();
    if (count_of(in, axes) == 0) {
        throw ValueError(fmt::format("{}: the reduced axes of a tensor of shape {} hold no element, and an empty set has "
                                     "no {}; reduce over non-empty axes",
                                     op, shape_str(in), largest ? "maximum" : "minimum"));
    }
    const Shape keep = keepdims_shape(in, axes);
    if (x.numel() == 0) {  // reduced axes non-empty, another axis empty: an empty result
        return record<T>(Tensor<T>(result(Array<T>(xt::zeros<T>(keep)), in, axes, keepdims)), op, {x}, {}, "dx = 0 (empty)",
                         [](const Node<T>& n, const Array<T>&) { return grads<T>(Array<T>(xt::zeros<T>(n.input_shape(0)))); });
    }
    Array<T> m = largest ? Array<T>(xt::amax(x.value(), axes, xt::evaluation_strategy::immediate))
                         : Array<T>(xt::amin(x.value(), axes, xt::evaluation_strategy::immediate));
    m = kept(std::move(m), keep);
    // NaN wins, as in PyTorch: xtensor's amax skips it
    const Array<T> has_nan = sum_kept(Array<T>(xt::cast<T>(xt::isnan(x.value()))), axes, keep);
    for (std::size_t i = 0; i < m.size(); ++i) {
        if (has_nan.data()[i] > 0) {
            m.data()[i] = std::numeric_limits<T>::quiet_NaN();
        }
    }
    Tensor<T> y(result(m, in, axes, keepdims));
    // the gradient goes to the elements equal to the result, split evenly among ties
    return record<T>(y, op, {x}, {x}, "dx = g / (number of ties) where x is the extreme, 0 elsewhere",
                     [axes, keep, m](const Node<T>& n, const Array<T>& g) {
                         const Array<T>& xv = n.saved_value(0);
                         // (a NaN result equals nothing: the slice's gradient is NaN, as in PyTorch)
                         const Array<T> at = xt::cast<T>(xt::equal(xv, broadcast_to<T>(m, to_shape(xv.shape()))));
                         const Array<T> ties = sum_kept(at, axes, keep);
                         const Array<T> share = kept(Array<T>(g), keep) / ties;
                         return grads<T>(Array<T>(at * broadcast_to<T>(share, to_shape(xv.shape()))));
                     });
}

}  // namespace

template <class T>
Tensor<T> amax(const Tensor<T>& x, const std::vector<int>& axes, bool keepdims) {
    return extreme("amax", x, axes, keepdims, true);
}

template <class T>
Tensor<T> amin(const Tensor<T>& x, const std::vector<int>& axes, bool keepdims) {
    return extreme("amin", x, axes, keepdims, false);
}

template <class T>
Tensor<T> var(const Tensor<T>& x, const std::vector<int>& axis_list, int correction, bool keepdims) {
    const Axes axes = normalize_axes("var", axis_list, x.dim());
    const Shape in = x.shape(), keep = keepdims_shape(in, axes);
    const double n = static_cast<double>(count_of(in, axes));
    const T dof = static_cast<T>(std::max(0.0, n - correction));  // 0: a NaN or inf result, as PyTorch
    const Array<T> mu = sum_kept(x.value(), axes, keep) / static_cast<T>(n);
    const Array<T> xc = x.value() - broadcast_to<T>(mu, in);
    const Array<T> v = sum_kept(Array<T>(xc * xc), axes, keep) / dof;
    // d var / dx_i = 2 (x_i - mean) / (n - correction); the mean's own dependence on x sums to 0
    return record<T>(Tensor<T>(result(v, in, axes, keepdims)), "var", {x}, {x}, "dx = g * 2 (x - mean) / (n - correction)",
                     [axes, keep, dof](const Node<T>& nd, const Array<T>& g) {
                         const Array<T>& xv = nd.saved_value(0);
                         const Shape shape = to_shape(xv.shape());
                         Array<T> m = sum_kept(xv, axes, keep);
                         m /= static_cast<T>(xv.size() / std::max<std::size_t>(m.size(), 1));
                         const Array<T> gb = broadcast_to<T>(kept(Array<T>(g), keep), shape);
                         return grads<T>(Array<T>(gb * T(2) * (xv - broadcast_to<T>(m, shape)) / dof));
                     });
}

template <class T>
Tensor<T> std(const Tensor<T>& x, const std::vector<int>& axes, int correction, bool keepdims) {
    // sqrt of the variance: its gradient g / (2 std) through var's, taken as 0 where std is 0
    // (a constant slice), as PyTorch does
    const Tensor<T> v = var(x, axes, correction, keepdims);
    Tensor<T> out(Array<T>(xt::sqrt(v.value())));
    return record<T>(out, "std", {v}, {out}, "d sqrt(v)/dv = g / (2 std), 0 where std = 0",
                     [](const Node<T>& n, const Array<T>& g) {
                         const Array<T>& s = n.saved_value(0);
                         return grads<T>(Array<T>(xt::where(xt::equal(s, T(0)), T(0), g / (T(2) * s))));
                     });
}

template <class T>
Tensor<T> logsumexp(const Tensor<T>& x, const std::vector<int>& axis_list, bool keepdims) {
    const Axes axes = normalize_axes("logsumexp", axis_list, x.dim());
    const Shape in = x.shape(), keep = keepdims_shape(in, axes);
    Array<T> m = x.numel() ? Array<T>(xt::amax(x.value(), axes, xt::evaluation_strategy::immediate))
                           : Array<T>(xt::zeros<T>(keep));
    m.reshape(keep);
    for (auto& v : m) {
        if (!std::isfinite(v)) {
            v = T(0);  // no shift where the maximum is infinite (PyTorch's rule): -inf stays -inf, inf stays inf
        }
    }
    const Array<T> s = sum_kept(Array<T>(xt::exp(x.value() - broadcast_to<T>(m, in))), axes, keep);
    const Array<T> lse = xt::log(s) + m;
    Tensor<T> out(result(lse, in, axes, keepdims));
    // d lse / dx_i = exp(x_i - lse): the softmax
    return record<T>(out, "logsumexp", {x}, {x}, "dx = g * exp(x - logsumexp(x))",
                     [keep, lse](const Node<T>& n, const Array<T>& g) {
                         const Array<T>& xv = n.saved_value(0);
                         const Shape shape = to_shape(xv.shape());
                         return grads<T>(Array<T>(broadcast_to<T>(kept(Array<T>(g), keep), shape) *
                                                  xt::exp(xv - broadcast_to<T>(lse, shape))));
                     });
}

#define TG_INSTANTIATE(T)                                                                \
    template Tensor<T> amax(const Tensor<T>&, const std::vector<int>&, bool);            \
    template Tensor<T> amin(const Tensor<T>&, const std::vector<int>&, bool);            \
    template Tensor<T> var(const Tensor<T>&, const std::vector<int>&, int, bool);        \
    template Tensor<T> std(const Tensor<T>&, const std::vector<int>&, int, bool);        \
    template Tensor<T> logsumexp(const Tensor<T>&, const std::vector<int>&, bool);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg
