#include "ops/shape.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "ops/broadcast.hpp"
#include "ops/elementwise.hpp"

namespace tg {

std::vector<long> as_long(const Shape& s) { return std::vector<long>(s.begin(), s.end()); }

std::size_t axis_of(const char* op, int axis, std::size_t rank) {
    const long r = static_cast<long>(rank);
    if (axis < -r || axis >= r) {
        throw ShapeError(fmt::format("{}: axis {} is out of range for a tensor with {} dimensions; expected an axis in "
                                     "[{}, {}]",
                                     op, axis, rank, -r, r - 1));
    }
    return static_cast<std::size_t>(axis < 0 ? axis + r : axis);
}

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

// narrow's backward: x written into zeros of `shape` at [start, start + x.shape[axis]) along axis.
// Linear, and its backward is narrow, so that gradients through it can be differentiated again.
template <class T>
Tensor<T> pad(const Tensor<T>& x, std::size_t axis, std::size_t start, const Shape& shape) {
    Array<T> v = xt::zeros<T>(shape);
    xt::xstrided_slice_vector sv(shape.size(), xt::all());
    sv[axis] = xt::range(start, start + x.shape()[axis]);
    xt::strided_view(v, sv) = x.value();
    return record<T>(Tensor<T>(std::move(v)), "pad", {x}, {}, "dx = narrow(g)",
                     [axis, start](const Node<T>& n, const Tensor<T>& g) {
                         return grads<T>(narrow(g, static_cast<int>(axis), start, n.input_shape(0)[axis]));
                     });
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

template <class T>
Tensor<T> narrow(const Tensor<T>& x, int axis, std::size_t start, std::size_t length) {
    const Shape s = x.shape();
    const std::size_t a = axis_of("narrow", axis, s.size());
    if (start + length > s[a]) {
        throw ShapeError(fmt::format("narrow: [{}, {}) is outside axis {} of {}, which has {} elements", start,
                                     start + length, axis, shape_str(s), s[a]));
    }
    xt::xstrided_slice_vector sv(s.size(), xt::all());
    sv[a] = xt::range(start, start + length);
    Array<T> v = xt::strided_view(x.value(), sv);
    // the slice's gradient goes back where the slice came from, zeros elsewhere
    return record<T>(Tensor<T>(std::move(v)), "narrow", {x}, {}, "dx = g padded with zeros",
                     [a, start](const Node<T>& n, const Tensor<T>& g) { return grads<T>(pad(g, a, start, n.input_shape(0))); });
}

template <class T>
Tensor<T> squeeze(const Tensor<T>& x, int axis) {
    Shape s = x.shape();
    const std::size_t a = axis_of("squeeze", axis, s.size());
    if (s[a] != 1) {
        throw ShapeError(fmt::format("squeeze: axis {} of {} has size {}, not 1; only a size-1 axis can be dropped", axis,
                                     shape_str(s), s[a]));
    }
    s.erase(s.begin() + static_cast<long>(a));
    return reshape(x, as_long(s));
}

template <class T>
Tensor<T> unsqueeze(const Tensor<T>& x, int axis) {
    Shape s = x.shape();
    const std::size_t a = axis_of("unsqueeze", axis, s.size() + 1);
    s.push_back(1);  // then moved into place (svector's insert trips GCC's -Warray-bounds)
    std::rotate(s.begin() + static_cast<long>(a), s.end() - 1, s.end());
    return reshape(x, as_long(s));
}

template <class T>
Tensor<T> flatten(const Tensor<T>& x, int start, int end) {
    const Shape s = x.shape();
    if (s.empty()) {
        return reshape(x, {1});
    }
    const std::size_t a = axis_of("flatten", start, s.size()), b = axis_of("flatten", end, s.size());
    if (a > b) {
        throw ShapeError(fmt::format("flatten: start axis {} comes after end axis {} in {}", start, end, shape_str(s)));
    }
    std::vector<long> to(s.begin(), s.begin() + static_cast<long>(a));
    long merged = 1;
    for (std::size_t i = a; i <= b; ++i) {
        merged *= static_cast<long>(s[i]);
    }
    to.push_back(merged);
    to.insert(to.end(), s.begin() + static_cast<long>(b) + 1, s.end());
    return reshape(x, to);
}

template <class T>
Tensor<T> transpose(const Tensor<T>& x, int axis0, int axis1) {
    std::vector<std::size_t> perm(x.dim());
    for (std::size_t i = 0; i < perm.size(); ++i) {
        perm[i] = i;
    }
    std::swap(perm[axis_of("transpose", axis0, x.dim())], perm[axis_of("transpose", axis1, x.dim())]);
    return permute(x, perm);
}

template <class T>
Tensor<T> expand(const Tensor<T>& x, const Shape& shape) {
    if (broadcast_shapes("expand", x.shape(), shape) != shape) {
        throw ShapeError(fmt::format("expand: {} cannot be repeated to {}; each axis must be 1 or already the size asked",
                                     shape_str(x.shape()), shape_str(shape)));
    }
    // the adjoint of repeating is summing over the repeats
    return record<T>(Tensor<T>(broadcast_to<T>(x.value(), shape)), "expand", {x}, {}, "dx = sum of g over the repeated axes",
                     [](const Node<T>& n, const Tensor<T>& g) { return grads<T>(sum_to(g, n.input_shape(0))); });
}

template <class T>
Tensor<T> cat(const std::vector<Tensor<T>>& xs, int axis) {
    if (xs.empty()) {
        throw ValueError("cat: no tensors to join; give at least one");
    }
    const Shape first = xs[0].shape();
    const std::size_t a = axis_of("cat", axis, first.size());
    Shape out = first;
    out[a] = 0;
    std::vector<std::size_t> sizes;
    for (std::size_t k = 0; k < xs.size(); ++k) {
        Shape s = xs[k].shape();
        Shape f = first;
        if (s.size() == f.size()) {
            s[a] = f[a] = 0;
        }
        if (s != f) {
            throw ShapeError(fmt::format("cat: tensor {} is {}, tensor 0 is {}; all must match except along axis {}", k,
                                         shape_str(xs[k].shape()), shape_str(first), axis));
        }
        sizes.push_back(xs[k].shape()[a]);
        out[a] += sizes.back();
    }
    Array<T> v = tg::empty<T>(out);
    std::size_t at = 0;
    for (std::size_t k = 0; k < xs.size(); ++k) {
        xt::xstrided_slice_vector sv(out.size(), xt::all());
        sv[a] = xt::range(at, at + sizes[k]);
        xt::strided_view(v, sv) = xs[k].value();
        at += sizes[k];
    }
    // each input gets back its own slice of g
    return record<T>(Tensor<T>(std::move(v)), "cat", xs, {}, "dx_k = the slice of g that x_k filled",
                     [a, sizes](const Node<T>& n, const Tensor<T>& g) {
                         Grads<T> out;
                         std::size_t from = 0;
                         for (std::size_t k = 0; k < sizes.size(); ++k) {
                             out.push_back(n.needs_grad(k) ? narrow(g, static_cast<int>(a), from, sizes[k]) : Tensor<T>::none());
                             from += sizes[k];
                         }
                         return out;
                     });
}

template <class T>
Tensor<T> stack(const std::vector<Tensor<T>>& xs, int axis) {
    if (xs.empty()) {
        throw ValueError("stack: no tensors to stack; give at least one");
    }
    std::vector<Tensor<T>> parts;
    for (const auto& x : xs) {
        parts.push_back(unsqueeze(x, axis));
    }
    return cat(parts, axis);
}

#define TG_INSTANTIATE(T)                                                                   \
    template Tensor<T> reshape(const Tensor<T>&, const std::vector<long>&);                 \
    template Tensor<T> transpose(const Tensor<T>&);                                         \
    template Tensor<T> permute(const Tensor<T>&, const std::vector<std::size_t>&);          \
    template Tensor<T> narrow(const Tensor<T>&, int, std::size_t, std::size_t);             \
    template Tensor<T> squeeze(const Tensor<T>&, int);                                      \
    template Tensor<T> unsqueeze(const Tensor<T>&, int);                                    \
    template Tensor<T> flatten(const Tensor<T>&, int, int);                                 \
    template Tensor<T> transpose(const Tensor<T>&, int, int);                               \
    template Tensor<T> expand(const Tensor<T>&, const Shape&);                              \
    template Tensor<T> cat(const std::vector<Tensor<T>>&, int);                             \
    template Tensor<T> stack(const std::vector<Tensor<T>>&, int);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg
