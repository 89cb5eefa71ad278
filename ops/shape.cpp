#include "ops/shape.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace tg {

std::vector<long> as_long(const Shape& s) { return std::vector<long>(s.begin(), s.end()); }

namespace {

Shape resolve_shape(const Shape& from, const std::vector<long>& to) {
    const std::size_t n = shape_numel(from);
    Shape out(to.size());
    std::size_t known = 1;
    long infer = -1;
    for (std::size_t i = 0; i < to.size(); ++i) {
        if (to[i] == -1) {
            if (infer >= 0) {
                throw ShapeError(fmt::format("reshape: only one dimension can be -1; got [{}]",
                                             fmt::join(to, ", ")));
            }
            infer = static_cast<long>(i);
        } else if (to[i] < 0) {
            throw ShapeError(fmt::format("reshape: dimension {} is negative in [{}]", to[i],
                                         fmt::join(to, ", ")));
        } else {
            out[i] = static_cast<std::size_t>(to[i]);
            known *= out[i];
        }
    }
    if (infer >= 0) {
        if (known == 0 || n % known != 0) {
            throw ShapeError(fmt::format("reshape: cannot infer -1 in [{}] for {} elements (shape {})",
                                         fmt::join(to, ", "), n, shape_str(from)));
        }
        out[static_cast<std::size_t>(infer)] = n / known;
        known *= out[static_cast<std::size_t>(infer)];
    }
    if (known != n) {
        throw ShapeError(fmt::format(
            "reshape: the element count must stay the same; expected a shape of {} elements (from "
            "{}), got [{}]",
            n, shape_str(from), fmt::join(to, ", ")));
    }
    return out;
}

}  // namespace

template <class T>
Tensor<T> reshape(const Tensor<T>& x, const std::vector<long>& shape) {
    const Shape to = resolve_shape(x.shape(), shape);
    Array<T> v = x.value();
    v.reshape(to);
    // reshape moves no value: the gradient is reshaped back
    return record<T>(Tensor<T>(std::move(v)), "reshape", {x}, {}, "dx = reshape(g, x.shape)",
                     [](const Node<T>& n, const Tensor<T>& g) {
                         const Shape& s = n.input_shape(0);
                         return grads<T>(reshape(g, std::vector<long>(s.begin(), s.end())));
                     });
}

template <class T>
Tensor<T> permute(const Tensor<T>& x, const std::vector<std::size_t>& perm) {
    std::vector<std::size_t> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    bool valid = sorted.size() == x.dim();
    for (std::size_t i = 0; valid && i < sorted.size(); ++i) {
        valid = sorted[i] == i;
    }
    if (!valid) {
        throw ShapeError(fmt::format(
            "permute: expected a permutation of 0..{} for a tensor of shape {}, got [{}]",
            x.dim() == 0 ? 0 : x.dim() - 1, shape_str(x.shape()), fmt::join(perm, ", ")));
    }
    std::vector<std::size_t> inverse(perm.size());
    for (std::size_t i = 0; i < perm.size(); ++i) {
        inverse[perm[i]] = i;
    }
    Tensor<T> out(Array<T>(xt::transpose(x.value(), perm)));
    // a permutation is undone by its inverse
    return record<T>(out, "permute", {x}, {}, "dx = permute(g, inverse(perm))",
                     [inverse](const Node<T>&, const Tensor<T>& g) { return grads<T>(permute(g, inverse)); });
}

template <class T>
Tensor<T> transpose(const Tensor<T>& x) {
    if (x.dim() != 2) {
        throw ShapeError(fmt::format(
            "transpose: expected a 2-D tensor, got shape {}; use permute for other ranks",
            shape_str(x.shape())));
    }
    return permute(x, {1, 0});
}

#define TG_INSTANTIATE(T)                                                     \
    template Tensor<T> reshape(const Tensor<T>&, const std::vector<long>&);   \
    template Tensor<T> transpose(const Tensor<T>&);                           \
    template Tensor<T> permute(const Tensor<T>&, const std::vector<std::size_t>&);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg
