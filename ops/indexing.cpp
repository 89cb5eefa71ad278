#include "ops/indexing.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "ops/shape.hpp"

namespace tg {

namespace {

// The backward ops of take_rows and pick. Each is linear, and its backward is the forward op it
// undoes, so that gradients through them can be differentiated again.

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

#define TG_INSTANTIATE(T)                                                                     \
    template Tensor<T> take_rows(const Tensor<T>&, const Array<std::int64_t>&);               \
    template Tensor<T> index_select(const Tensor<T>&, int, const std::vector<std::int64_t>&); \
    template Tensor<T> pick(const Tensor<T>&, const std::vector<std::int64_t>&);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg
