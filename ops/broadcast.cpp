#include "ops/broadcast.hpp"

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

template <class T>
Array<T> sum_to_shape(Array<T> grad, const Shape& shape) {
    if (grad.shape().size() == shape.size() && std::equal(shape.begin(), shape.end(), grad.shape().begin())) {
        return grad;  // nothing was broadcast: the gradient passes through, moved, not copied
    }
    const Shape from = to_shape(grad.shape());
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
    Array<T> out = xt::sum(grad, axes, xt::evaluation_strategy::immediate);
    out.reshape(shape);
    return out;
}

template <class T>
Array<T> broadcast_to(const Array<T>& x, const Shape& shape) {
    return xt::broadcast(x, shape);
}

template Array<float> sum_to_shape(Array<float>, const Shape&);
template Array<double> sum_to_shape(Array<double>, const Shape&);
template Array<float> broadcast_to(const Array<float>&, const Shape&);
template Array<double> broadcast_to(const Array<double>&, const Shape&);

}  // namespace tg
