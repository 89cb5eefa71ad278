#include "ops/statistics.hpp"

#include <fmt/format.h>

#include <cmath>

#include "ops/broadcast.hpp"
#include "ops/choice.hpp"
#include "ops/elementwise.hpp"
#include "ops/reductions.hpp"
#include "ops/shape.hpp"

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

// How a NaN in a slice is treated: PyTorch's amax/amin give the whole slice a NaN gradient;
// its max()/min() over everything send the gradient to the NaNs, split evenly among them.
enum class NanGrad { whole_slice, to_the_nans };

template <class T>
Tensor<T> extreme(const char* op, const Tensor<T>& x, const std::vector<int>& axis_list, bool keepdims, bool largest,
                  NanGrad nan_grad) {
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
                         [](const Node<T>& n, const Tensor<T>&) { return grads<T>(Tensor<T>::zeros(n.input_shape(0))); });
    }
    Array<T> m = largest ? Array<T>(xt::amax(x.value(), axes, xt::evaluation_strategy::immediate))
                         : Array<T>(xt::amin(x.value(), axes, xt::evaluation_strategy::immediate));
    m = kept(std::move(m), keep);
    // xtensor's amax starts from the lowest finite value (and amin from the highest), so a slice of
    // -inf only (+inf for amin) comes out finite; and it skips NaN, which wins in PyTorch
    const T beyond = largest ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    const Array<T> has_nan = sum_kept(Array<T>(xt::cast<T>(xt::isnan(x.value()))), axes, keep);
    const Array<T> all_beyond = sum_kept(Array<T>(xt::cast<T>(xt::equal(x.value(), beyond))), axes, keep);
    const T slice = static_cast<T>(count_of(in, axes));
    for (std::size_t i = 0; i < m.size(); ++i) {
        if (has_nan.data()[i] > 0) {
            m.data()[i] = std::numeric_limits<T>::quiet_NaN();
        } else if (all_beyond.data()[i] == slice) {
            m.data()[i] = beyond;
        }
    }
    // Which elements are chosen, and how many share the choice: constants (the choice does not
    // change under a small step). A NaN result: the NaNs are chosen (max() and min()), or the whole
    // slice shares a NaN gradient (amax and amin).
    const Array<T> m_full = broadcast_to<T>(m, in);
    Array<bool> chosen = xt::equal(x.value(), m_full);
    if (nan_grad == NanGrad::to_the_nans) {
        chosen = chosen || (xt::isnan(m_full) && xt::isnan(x.value()));
    } else {
        chosen = chosen || xt::isnan(m_full);
    }
    Array<T> ties = sum_kept(Array<T>(xt::cast<T>(chosen)), axes, keep);
    if (nan_grad == NanGrad::whole_slice) {
        ties = xt::where(xt::isnan(m), std::numeric_limits<T>::quiet_NaN(), ties);
    }
    Tensor<T> y(result(m, in, axes, keepdims));
    // the gradient is picked, not multiplied by a 0/1 mask: an infinite upstream leaves the elements
    // that were not chosen at 0 (0 * inf would be NaN)
    return record<T>(y, op, {x}, {}, "dx = g / (number of ties) where x is the extreme, 0 elsewhere",
                     [keep, chosen = std::move(chosen), ties = std::move(ties)](const Node<T>& n, const Tensor<T>& g) {
                         const Tensor<T> share = div(reshape(g, as_long(keep)), Tensor<T>(ties));
                         return grads<T>(tg::where(chosen, expand(share, n.input_shape(0)), Tensor<T>::scalar(T(0))));
                     });
}

}  // namespace

template <class T>
Tensor<T> amax(const Tensor<T>& x, const std::vector<int>& axes, bool keepdims) {
    return extreme("amax", x, axes, keepdims, true, NanGrad::whole_slice);
}

template <class T>
Tensor<T> amin(const Tensor<T>& x, const std::vector<int>& axes, bool keepdims) {
    return extreme("amin", x, axes, keepdims, false, NanGrad::whole_slice);
}

template <class T>
Tensor<T> max(const Tensor<T>& x) {
    return extreme("max", x, {}, false, true, NanGrad::to_the_nans);
}

template <class T>
Tensor<T> min(const Tensor<T>& x) {
    return extreme("min", x, {}, false, false, NanGrad::to_the_nans);
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
                     [axes, keep, dof](const Node<T>& nd, const Tensor<T>& g) {
                         const Tensor<T> x = nd.saved(0);
                         const Tensor<T> xc = sub(x, mean(x, std::vector<int>(axes.begin(), axes.end()), true));
                         const Tensor<T> gb = expand(reshape(g, as_long(keep)), x.shape());
                         return grads<T>(div(mul(mul(gb, 2.0), xc), double(dof)));
                     });
}

template <class T>
Tensor<T> std(const Tensor<T>& x, const std::vector<int>& axes, int correction, bool keepdims) {
    // sqrt of the variance: its gradient g / (2 std) through var's, taken as 0 where std is 0
    // (a constant slice), as PyTorch does
    const Tensor<T> v = var(x, axes, correction, keepdims);
    Tensor<T> out(Array<T>(xt::sqrt(v.value())));
    return record<T>(out, "std", {v}, {out}, "d sqrt(v)/dv = g / (2 std), 0 where std = 0",
                     [](const Node<T>& n, const Tensor<T>& g) {
                         const Tensor<T> s = n.saved(0);
                         const Array<bool> nonzero = xt::not_equal(s.value(), T(0));
                         return grads<T>(tg::where(nonzero, div(g, mul(2.0, s)), Tensor<T>::scalar(T(0))));
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
    return record<T>(out, "logsumexp", {x}, {x, out}, "dx = g * exp(x - logsumexp(x))",
                     [keep](const Node<T>& n, const Tensor<T>& g) {
                         const Tensor<T> x = n.saved(0);
                         const Tensor<T> lse = reshape(n.saved(1), as_long(keep));
                         return grads<T>(mul(expand(reshape(g, as_long(keep)), x.shape()), exp(sub(x, lse))));
                     });
}

#define TG_INSTANTIATE(T)                                                                \
    template Tensor<T> amax(const Tensor<T>&, const std::vector<int>&, bool);            \
    template Tensor<T> amin(const Tensor<T>&, const std::vector<int>&, bool);            \
    template Tensor<T> max(const Tensor<T>&);                                            \
    template Tensor<T> min(const Tensor<T>&);                                            \
    template Tensor<T> var(const Tensor<T>&, const std::vector<int>&, int, bool);        \
    template Tensor<T> std(const Tensor<T>&, const std::vector<int>&, int, bool);        \
    template Tensor<T> logsumexp(const Tensor<T>&, const std::vector<int>&, bool);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg
