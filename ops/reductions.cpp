#include "ops/reductions.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "ops/broadcast.hpp"
#include "ops/elementwise.hpp"
#include "ops/loops.hpp"
#include "ops/shape.hpp"

namespace tg {

Axes normalize_axes(const char* op, const std::vector<int>& axes, std::size_t ndim) {
    Axes out;
    if (axes.empty()) {
        for (std::size_t i = 0; i < ndim; ++i) {
            out.push_back(i);
        }
        return out;
    }
    for (int a : axes) {
        const long n = static_cast<long>(ndim);
        if (a < -n || a >= n) {
            throw ShapeError(fmt::format(
                "{}: axis {} is out of range for a tensor with {} dimensions; expected an axis in "
                "[{}, {}]",
                op, a, ndim, -n, n - 1));
        }
        out.push_back(static_cast<std::size_t>(a < 0 ? a + n : a));
    }
    std::sort(out.begin(), out.end());
    if (std::adjacent_find(out.begin(), out.end()) != out.end()) {
        throw ShapeError(fmt::format("{}: axes {} name the same axis twice", op, fmt::join(axes, ", ")));
    }
    return out;
}

Shape keepdims_shape(const Shape& shape, const Axes& axes) {
    Shape out = shape;
    for (std::size_t a : axes) {
        out[a] = 1;
    }
    return out;
}

namespace {

template <class T>
Tensor<T> reduce(const char* op, const Tensor<T>& x, const Axes& axes, bool keepdims, bool average) {
    const Shape in_shape = x.shape();
    std::size_t count = 1;
    for (std::size_t a : axes) {
        count *= in_shape[a];
    }
    // Accumulated in double: a float32 running sum of many values loses digits as it grows.
    Shape kept;  // the shape without the reduced axes
    for (std::size_t i = 0; i < in_shape.size(); ++i) {
        if (std::find(axes.begin(), axes.end(), i) == axes.end()) {
            kept.push_back(in_shape[i]);
        }
    }
    Array<double> total;
    bool leading = !axes.empty();
    for (std::size_t i = 0; i < axes.size(); ++i) {
        leading = leading && axes[i] == i;
    }
    if (x.numel() == 0) {
        // A sum of nothing is 0 (and a mean of nothing 0/0 = NaN, below), as in PyTorch.
        total = xt::zeros<double>(kept);
    } else if (leading) {
        // Over leading axes (mean over the batch): rows added in memory order, vectorised across
        // the row, instead of xtensor's general reducer.
        total = xt::adapt(loops::sum_rows(x.value().data(), count, shape_numel(kept)), kept);
    } else {
        // Immediate evaluation: xtensor's lazy reducer is many times slower.
        total = xt::sum<double>(x.value(), axes, xt::evaluation_strategy::immediate);
    }
    if (average) {
        total /= static_cast<double>(count);
    }
    Array<T> value = xt::cast<T>(total);
    if (keepdims) {
        value.reshape(keepdims_shape(in_shape, axes));
    }
    const T scale = average ? T(1) / static_cast<T>(count) : T(1);
    // d(sum x)/dx_i = 1 and d(mean x)/dx_i = 1/n: the gradient is copied back along the reduced
    // axes (the adjoint of a sum is a broadcast)
    Tensor<T> y = record<T>(Tensor<T>(std::move(value)), op, {x}, {},
                     average ? "d(mean x)/dx = broadcast(g)/n" : "d(sum x)/dx = broadcast(g)",
                     [axes, scale](const Node<T>& n, const Tensor<T>& g) {
                         const Shape& shape = n.input_shape(0);
                         const Shape kept = keepdims_shape(shape, axes);
                         Tensor<T> small = reshape(g, std::vector<long>(kept.begin(), kept.end()));
                         if (scale != T(1)) {
                             small = mul(small, double(scale));  // scaled before it is repeated
                         }
                         return grads<T>(expand(small, shape));
                     });
    if (y.grad_fn()) {
        y.grad_fn()->detail = fmt::format("{} [{}], n = {}{}", axes.size() == 1 ? "axis" : "axes", fmt::join(axes, ", "), count,
                                          keepdims ? ", keepdims" : "");
    }
    return y;
}

}  // namespace

template <class T>
Tensor<T> sum(const Tensor<T>& x) {
    return reduce<T>("sum", x, normalize_axes("sum", {}, x.dim()), false, false);
}

template <class T>
Tensor<T> sum(const Tensor<T>& x, const std::vector<int>& axes, bool keepdims) {
    return reduce<T>("sum", x, normalize_axes("sum", axes, x.dim()), keepdims, false);
}

template <class T>
Tensor<T> mean(const Tensor<T>& x) {
    return reduce<T>("mean", x, normalize_axes("mean", {}, x.dim()), false, true);
}

template <class T>
Tensor<T> mean(const Tensor<T>& x, const std::vector<int>& axes, bool keepdims) {
    return reduce<T>("mean", x, normalize_axes("mean", axes, x.dim()), keepdims, true);
}

#define TG_INSTANTIATE(T)                                                  \
    template Tensor<T> sum(const Tensor<T>&);                              \
    template Tensor<T> sum(const Tensor<T>&, const std::vector<int>&, bool);  \
    template Tensor<T> mean(const Tensor<T>&);                             \
    template Tensor<T> mean(const Tensor<T>&, const std::vector<int>&, bool);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg
