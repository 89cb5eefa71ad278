// Element-wise loops, so that an op says only its math: `binary("add", a, b, f)` is f applied with
// NumPy broadcasting, `unary(x, f)` and `zip(a, b, f)` (equal shapes) likewise. The broadcast
// patterns that dominate real graphs (equal shapes, a row repeated down leading axes: (N, D) with
// (D), and a scalar) run as plain loops, across threads for large arrays (xtensor's own
// assignment is single-threaded), and vectorise; any other pattern is left to xtensor.
#pragma once

#include <omp.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "core/parallel.hpp"
#include "core/tensor.hpp"
#include "ops/broadcast.hpp"

namespace tg::loops {

// How an operand's elements line up with the output's.
enum class Pattern { same, row, scalar, other };

template <class T>
Pattern pattern(const Array<T>& x, const Shape& out) {
    if (x.size() == 1) {
        return Pattern::scalar;
    }
    if (x.dimension() == out.size() && std::equal(out.begin(), out.end(), x.shape().begin())) {
        return Pattern::same;
    }
    std::size_t first = 0;  // leading size-1 axes repeat too
    while (first < x.dimension() && x.shape()[first] == 1) {
        ++first;
    }
    const std::size_t rest = x.dimension() - first;
    if (rest > out.size()) {
        return Pattern::other;
    }
    for (std::size_t i = 0; i < rest; ++i) {
        if (x.shape()[first + i] != out[out.size() - rest + i]) {
            return Pattern::other;
        }
    }
    return Pattern::row;
}

namespace detail {

// o[r, j] = f(a[r, j], b[r, j]) for rows of `inner` values; a row stride of 0 repeats a row, and
// a scalar operand is read once. One row (equal shapes, or a scalar) is shared among threads by
// index, more rows by row.
template <bool AScalar, bool BScalar, class T, class F>
void rows(const T* a, std::size_t a_stride, const T* b, std::size_t b_stride, T* o, std::size_t rows,
          std::size_t inner, F f) {
    if (rows == 1) {
        for_ranges(inner, worth_sharing(inner), [&](std::size_t begin, std::size_t end) {
#pragma omp simd
            for (std::size_t j = begin; j < end; ++j) {
                o[j] = f(AScalar ? a[0] : a[j], BScalar ? b[0] : b[j]);
            }
        });
        return;
    }
    for_ranges(rows, worth_sharing(rows * inner), [&](std::size_t begin, std::size_t end) {
        for (std::size_t r = begin; r < end; ++r) {
            const T* ar = a + r * a_stride;
            const T* br = b + r * b_stride;
            T* orow = o + r * inner;
#pragma omp simd
            for (std::size_t j = 0; j < inner; ++j) {
                orow[j] = f(AScalar ? a[0] : ar[j], BScalar ? b[0] : br[j]);
            }
        }
    });
}

// f(a, b) under broadcasting to `shape` for the patterns above, or nothing for any other.
template <class T, class F>
std::optional<Array<T>> binary_patterns(const Array<T>& a, const Array<T>& b, const Shape& shape, F f) {
    const Pattern pa = pattern(a, shape);
    const Pattern pb = pattern(b, shape);
    if (pa == Pattern::other || pb == Pattern::other || (pa == Pattern::row && pb == Pattern::row)) {
        return std::nullopt;
    }
    Array<T> out = tg::empty<T>(shape);
    const std::size_t n = out.size();
    const std::size_t inner = pa == Pattern::row ? a.size() : pb == Pattern::row ? b.size() : n;
    const std::size_t count = inner ? n / inner : 0;
    const std::size_t as = pa == Pattern::same ? inner : 0;
    const std::size_t bs = pb == Pattern::same ? inner : 0;
    const bool a1 = pa == Pattern::scalar, b1 = pb == Pattern::scalar;
    if (a1 && b1) {
        rows<true, true>(a.data(), as, b.data(), bs, out.data(), count, inner, f);
    } else if (a1) {
        rows<true, false>(a.data(), as, b.data(), bs, out.data(), count, inner, f);
    } else if (b1) {
        rows<false, true>(a.data(), as, b.data(), bs, out.data(), count, inner, f);
    } else {
        rows<false, false>(a.data(), as, b.data(), bs, out.data(), count, inner, f);
    }
    return out;
}

}  // namespace detail

// f(a, b) element-wise with NumPy broadcasting; a ShapeError names `op` if the shapes do not
// broadcast. f is called with two values for the common patterns and with the two arrays for any
// other, so write it for both: [](const auto& x, const auto& y) { return x + y; }.
template <class T, class F>
Array<T> binary(const char* op, const Array<T>& a, const Array<T>& b, F f) {
    const Shape shape = broadcast_shapes(op, a.shape(), b.shape());
    if (std::optional<Array<T>> out = detail::binary_patterns(a, b, shape, f)) {
        return std::move(*out);
    }
    return Array<T>(f(a, b));
}

// f(a, b) element-wise for two arrays of one shape (f takes two values).
template <class T, class F>
Array<T> zip(const Array<T>& a, const Array<T>& b, F f) {
    return std::move(*detail::binary_patterns(a, b, a.shape(), f));
}

// Sums of x viewed as (rows, inner) over its rows, in double: the reduction over leading axes
// (a mean over the batch, a gradient summed back to a bias). Each thread sums its share of the
// rows into its own partial sums, added in thread order, so the result does not depend on timing.
template <class T>
std::vector<double> sum_rows(const T* x, std::size_t rows, std::size_t inner) {
    const bool parallel = worth_sharing(rows * inner);
    const std::size_t threads = parallel ? static_cast<std::size_t>(omp_get_max_threads()) : 1;
    std::vector<std::vector<double>> partial(threads, std::vector<double>(inner, 0.0));
    // Four rows per sweep: each partial sum is loaded and stored once per four rows, not per row.
    const std::size_t blocks = (rows + 3) / 4;
    for_ranges(blocks, parallel, [&](std::size_t first, std::size_t last) {
        double* acc = partial[static_cast<std::size_t>(omp_get_thread_num())].data();
        for (std::size_t b = first; b < last; ++b) {
            const T* r0 = x + 4 * b * inner;
            if (4 * b + 4 <= rows) {
#pragma omp simd
                for (std::size_t j = 0; j < inner; ++j) {
                    acc[j] += (static_cast<double>(r0[j]) + static_cast<double>(r0[inner + j])) +
                              (static_cast<double>(r0[2 * inner + j]) + static_cast<double>(r0[3 * inner + j]));
                }
                continue;
            }
            for (std::size_t r = 4 * b; r < rows; ++r) {
                const T* row = x + r * inner;
#pragma omp simd
                for (std::size_t j = 0; j < inner; ++j) {
                    acc[j] += static_cast<double>(row[j]);
                }
            }
        }
    });
    for (std::size_t t = 1; t < threads; ++t) {
        for (std::size_t j = 0; j < inner; ++j) {
            partial[0][j] += partial[t][j];
        }
    }
    return std::move(partial[0]);
}

// f(x) elementwise, across threads for large arrays.
template <class T, class F>
Array<T> unary(const Array<T>& x, F f) {
    Array<T> out = tg::empty<T>(x.shape());
    const std::size_t n = x.size();
    const T* in = x.data();
    T* o = out.data();
    for_ranges(n, worth_sharing(n), [&](std::size_t begin, std::size_t end) {
#pragma omp simd
        for (std::size_t i = begin; i < end; ++i) {
            o[i] = f(in[i]);
        }
    });
    return out;
}

}  // namespace tg::loops
