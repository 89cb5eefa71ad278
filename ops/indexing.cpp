#include "ops/indexing.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "ops/broadcast.hpp"
#include "ops/elementwise.hpp"
#include "ops/shape.hpp"

namespace tg {

namespace {

std::size_t axis_of(const char* op, int axis, std::size_t rank) {
    const long r = static_cast<long>(rank);
    if (axis < -r || axis >= r) {
        throw ShapeError(fmt::format("{}: axis {} is out of range for a tensor with {} dimensions; expected an axis in "
                                     "[{}, {}]",
                                     op, axis, rank, -r, r - 1));
    }
    return static_cast<std::size_t>(axis < 0 ? axis + r : axis);
}


// The backward ops of narrow, take_rows and pick. Each is linear, and its backward is the forward
// op it undoes, so that gradients through them can be differentiated again.

// x written into zeros of `shape` at [start, start + x.shape[axis]) along axis.
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

// dtable: zeros of `shape` with g[i] added into row index[i].
template <class T>
Tensor<T> add_rows(const Tensor<T>& g, const Array<std::int64_t>& index, const Shape& shape) {
    Array<T> d = xt::zeros<T>(shape);
    const std::size_t width = shape_numel(shape) / std::max<std::size_t>(shape[0], 1);
    for (std::size_t i = 0; i < index.size(); ++i) {
        T* row = d.data() + static_cast<std::size_t>(index.data()[i]) * width;
        const T* gi = g.value().data() + i * width;
        for (std::size_t j = 0; j < width; ++j) {
            row[j] += gi[j];
        }
    }
    return record<T>(Tensor<T>(std::move(d)), "add_rows", {g}, {}, "dg = take_rows(u, index)",
                     [index](const Node<T>&, const Tensor<T>& u) { return grads<T>(take_rows(u, index)); });
}

// dx (n, c): g[i] at [i, cols[i]], 0 elsewhere.
template <class T>
Tensor<T> place(const Tensor<T>& g, const std::vector<std::int64_t>& cols, std::size_t c) {
    Array<T> d = xt::zeros<T>({cols.size(), c});
    for (std::size_t i = 0; i < cols.size(); ++i) {
        d.data()[i * c + static_cast<std::size_t>(cols[i])] = g.value()(i);
    }
    return record<T>(Tensor<T>(std::move(d)), "place", {g}, {}, "dg = pick(u, cols)",
                     [cols](const Node<T>&, const Tensor<T>& u) { return grads<T>(pick(u, cols)); });
}

}  // namespace

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

template <class T>
Tensor<T> take_rows(const Tensor<T>& table, const Array<std::int64_t>& index) {
    const Shape ts = table.shape();
    if (ts.empty()) {
        throw ShapeError("take_rows: the table is 0-d; it needs rows (shape (rows, ...))");
    }
    const std::size_t rows = ts[0], width = shape_numel(ts) / std::max<std::size_t>(rows, 1);
    for (std::size_t i = 0; i < index.size(); ++i) {
        if (index.data()[i] < 0 || static_cast<std::size_t>(index.data()[i]) >= rows) {
            throw ValueError(fmt::format("take_rows: index {} (at position {}) is outside the table's {} rows [0, {})",
                                         index.data()[i], i, rows, rows));
        }
    }
    Shape out = index.shape();
    out.insert(out.end(), ts.begin() + 1, ts.end());
    Array<T> v = tg::empty<T>(out);
    for (std::size_t i = 0; i < index.size(); ++i) {
        const T* src = table.value().data() + static_cast<std::size_t>(index.data()[i]) * width;
        std::copy(src, src + width, v.data() + i * width);
    }
    // each picked row's gradient is added into the row it came from: a row picked twice gets both
    return record<T>(Tensor<T>(std::move(v)), "take_rows", {table}, {}, "dtable[index[i]] += g[i]",
                     [index](const Node<T>& n, const Tensor<T>& g) {
                         return grads<T>(add_rows(g, index, n.input_shape(0)));
                     });
}

template <class T>
Tensor<T> index_select(const Tensor<T>& x, int axis, const std::vector<std::int64_t>& index) {
    const std::size_t a = axis_of("index_select", axis, x.dim());
    Array<std::int64_t> idx = xt::adapt(index, {index.size()});
    if (a == 0) {
        return take_rows(x, idx);
    }
    // another axis: bring it to the front, pick, and put it back
    return transpose(take_rows(transpose(x, 0, static_cast<int>(a)), idx), 0, static_cast<int>(a));
}

template <class T>
Tensor<T> pick(const Tensor<T>& x, const std::vector<std::int64_t>& cols) {
    const Shape s = x.shape();
    if (s.size() != 2 || s[0] != cols.size()) {
        throw ShapeError(fmt::format("pick: expected a 2-D tensor and one column per row; got {} and {} columns",
                                     shape_str(s), cols.size()));
    }
    const std::size_t n = s[0], c = s[1];
    Array<T> v = tg::empty<T>({n});
    for (std::size_t i = 0; i < n; ++i) {
        if (cols[i] < 0 || static_cast<std::size_t>(cols[i]) >= c) {
            throw ValueError(fmt::format("pick: column {} of row {} is outside [0, {})", cols[i], i, c));
        }
        v(i) = x.value().data()[i * c + static_cast<std::size_t>(cols[i])];
    }
    // dx[i, cols[i]] = g[i], 0 elsewhere
    return record<T>(Tensor<T>(std::move(v)), "pick", {x}, {}, "dx[i, cols[i]] = g[i], 0 elsewhere",
                     [cols, c](const Node<T>&, const Tensor<T>& g) { return grads<T>(place(g, cols, c)); });
}

#define TG_INSTANTIATE(T)                                                                   \
    template Tensor<T> narrow(const Tensor<T>&, int, std::size_t, std::size_t);             \
    template Tensor<T> squeeze(const Tensor<T>&, int);                                      \
    template Tensor<T> unsqueeze(const Tensor<T>&, int);                                    \
    template Tensor<T> flatten(const Tensor<T>&, int, int);                                 \
    template Tensor<T> transpose(const Tensor<T>&, int, int);                               \
    template Tensor<T> expand(const Tensor<T>&, const Shape&);                              \
    template Tensor<T> cat(const std::vector<Tensor<T>>&, int);                             \
    template Tensor<T> stack(const std::vector<Tensor<T>>&, int);                           \
    template Tensor<T> take_rows(const Tensor<T>&, const Array<std::int64_t>&);             \
    template Tensor<T> index_select(const Tensor<T>&, int, const std::vector<std::int64_t>&); \
    template Tensor<T> pick(const Tensor<T>&, const std::vector<std::int64_t>&);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg
