#include "ops/broadcast.hpp"

#include "ops/shape.hpp"
#include "ops/loops.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace tg {

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
    const std::size_t n = std::max(a.size(), b.size());
    Shape out(n);
    for (std::size_t i = 0; i < n; ++i) {
        // Align from the right: the last axes pair up first.
        const std::size_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
        const std::size_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
        if (da != db && da != 1 && db != 1) {
            throw ShapeError(fmt::format(
                "{}: shapes cannot be broadcast together: a is {}, b is {}; aligned from the "
                "right, each pair of dimensions must be equal or one of them 1",
                op, shape_str(a), shape_str(b)));
        }
        out[i] = da == 1 ? db : da;
    }
    return out;
}

namespace {

template <class T>
bool has_shape(const Array<T>& a, const Shape& shape) {
    return a.shape().size() == shape.size() && std::equal(shape.begin(), shape.end(), a.shape().begin());
}

template <class T>
Array<T> summed(const Array<T>& grad, const Shape& shape) {
    const Shape from = grad.shape();
    if (from.size() < shape.size()) {
        throw ShapeError(fmt::format("sum_to_shape: cannot sum {} down to {}", shape_str(from),
                                     shape_str(shape)));
    }
    const std::size_t lead = from.size() - shape.size();
    Axes axes;
    for (std::size_t i = 0; i < lead; ++i) {
        axes.push_back(i);
    }
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] == 1 && from[lead + i] != 1) {
            axes.push_back(lead + i);
        } else if (shape[i] != from[lead + i]) {
            throw ShapeError(fmt::format("sum_to_shape: cannot sum {} down to {}", shape_str(from),
                                         shape_str(shape)));
        }
    }
    if (grad.size() == 0) {
        return xt::zeros<T>(shape);  // the sum of no gradients
    }
    bool leading_only = true;  // summing only over leading axes: rows of the trailing shape
    for (std::size_t i = 0; i < axes.size(); ++i) {
        leading_only = leading_only && axes[i] == i;
    }
    if (leading_only) {
        const std::size_t inner = shape_numel(shape);
        const std::vector<double> acc = loops::sum_rows(grad.data(), inner ? grad.size() / inner : 0, inner);
        Array<T> out = tg::empty<T>(shape);
        std::transform(acc.begin(), acc.end(), out.data(), [](double v) { return static_cast<T>(v); });
        return out;
    }
    Array<T> out = xt::sum(grad, axes, xt::evaluation_strategy::immediate);
    out.reshape(shape);
    return out;
}

}  // namespace

template <class T>
Array<T> sum_to_shape(Array<T>&& grad, const Shape& shape) {
    return has_shape(grad, shape) ? std::move(grad) : summed(grad, shape);
}

template <class T>
Array<T> sum_to_shape(const Array<T>& grad, const Shape& shape) {
    return has_shape(grad, shape) ? Array<T>(grad) : summed(grad, shape);
}

template <class T>
Array<T> broadcast_to(const Array<T>& x, const Shape& shape) {
    // The common case, x repeated along leading axes ([D] or [1, D] to [N, D]): row copies, which
    // are many times faster than xtensor's general broadcasting assignment.
    const std::size_t lead = shape.size() - std::min(shape.size(), x.dimension());
    bool rows = x.dimension() <= shape.size();
    std::size_t first = 0;  // x's leading size-1 axes also repeat
    while (rows && first < x.dimension() && x.shape()[first] == 1) {
        ++first;
    }
    for (std::size_t i = first; rows && i < x.dimension(); ++i) {
        rows = x.shape()[i] == shape[lead + i];
    }
    if (rows) {
        Array<T> out = tg::empty<T>(shape);
        const std::size_t inner = x.size();
        const std::size_t copies = inner ? out.size() / inner : 0;
        for (std::size_t r = 0; r < copies; ++r) {
            std::copy(x.data(), x.data() + inner, out.data() + r * inner);
        }
        return out;
    }
    return xt::broadcast(x, shape);
}

template <class T>
Tensor<T> sum_to(const Tensor<T>& x, const Shape& shape) {
    if (x.shape() == shape) {
        return x;
    }
    // the adjoint of a sum over the repeats is repeating
    return record<T>(Tensor<T>(summed(x.value(), shape)), "sum_to", {x}, {}, "dx = expand(g, x.shape)",
                     [](const Node<T>& n, const Tensor<T>& g) { return grads<T>(expand(g, n.input_shape(0))); });
}

template Tensor<float> sum_to(const Tensor<float>&, const Shape&);
template Tensor<double> sum_to(const Tensor<double>&, const Shape&);
template Array<float> sum_to_shape(Array<float>&&, const Shape&);
template Array<double> sum_to_shape(Array<double>&&, const Shape&);
template Array<float> sum_to_shape(const Array<float>&, const Shape&);
template Array<double> sum_to_shape(const Array<double>&, const Shape&);
template Array<float> broadcast_to(const Array<float>&, const Shape&);
template Array<double> broadcast_to(const Array<double>&, const Shape&);

}  // namespace tg
