#include <fmt/format.h>

#include <xtensor-blas/xblas.hpp>

#include "ops/shape.hpp"

namespace tg {

namespace {

// C = op(A) @ op(B) for row-major matrices, op = transpose where asked; one BLAS call.
template <class T>
void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const T* a, const T* b,
          T* c) {
    if (m == 0 || n == 0) {
        return;
    }
    if (k == 0) {
        std::fill(c, c + m * n, T(0));
        return;
    }
    using I = xt::blas_index_t;
    cxxblas::gemm<I>(cxxblas::StorageOrder::RowMajor,
                     ta ? cxxblas::Transpose::Trans : cxxblas::Transpose::NoTrans,
                     tb ? cxxblas::Transpose::Trans : cxxblas::Transpose::NoTrans,
                     static_cast<I>(m), static_cast<I>(n), static_cast<I>(k), T(1), a,
                     static_cast<I>(ta ? m : k), b, static_cast<I>(tb ? k : n), T(0), c,
                     static_cast<I>(n));
}

// out[batch] = op(a[batch]) @ op(b[batch]); shapes of the results are the caller's business.
template <class T>
Array<T> batched_gemm(const Array<T>& a, bool ta, const Array<T>& b, bool tb, Shape out_shape) {
    const std::size_t d = out_shape.size();
    const std::size_t m = out_shape[d - 2];
    const std::size_t n = out_shape[d - 1];
    const std::size_t k = ta ? a.shape()[d - 2] : a.shape()[d - 1];
    const std::size_t batch = shape_numel(out_shape) / std::max<std::size_t>(m * n, 1);
    Array<T> out = xt::empty<T>(out_shape);
    for (std::size_t i = 0; i < batch; ++i) {
        gemm<T>(ta, tb, m, n, k, a.data() + i * m * k, b.data() + i * k * n, out.data() + i * m * n);
    }
    return out;
}

}  // namespace

template <class T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b) {
    const Shape sa = a.shape();
    const Shape sb = b.shape();
    const std::size_t d = sa.size();
    if (d < 2 || sb.size() != d) {
        throw ShapeError(fmt::format(
            "matmul: expected two 2-D tensors (or two batches of the same rank), got a {} and b {}",
            shape_str(sa), shape_str(sb)));
    }
    if (!std::equal(sa.begin(), sa.end() - 2, sb.begin())) {
        throw ShapeError(fmt::format(
            "matmul: batch dimensions differ: a is {}, b is {}; the leading dimensions must be equal",
            shape_str(sa), shape_str(sb)));
    }
    if (sa[d - 1] != sb[d - 2]) {
        throw ShapeError(fmt::format(
            "matmul: inner dimensions differ: a is {}, b is {}; a's last dimension must equal b's "
            "second to last",
            shape_str(sa), shape_str(sb)));
    }
    Shape so = sa;
    so[d - 1] = sb[d - 1];
    Tensor<T> out(batched_gemm<T>(a.value(), false, b.value(), false, so));
    // C = A B: dA = G B^T, dB = A^T G (BLAS reads the transposes in place, no copy)
    return record<T>(out, "matmul", {a, b}, {a, b}, "dA = g @ B^T, dB = A^T @ g",
                     [](const Node<T>& n, const Array<T>& g) {
                         const Array<T>& av = n.saved_value(0);
                         const Array<T>& bv = n.saved_value(1);
                         Grads<T> grads(2);
                         if (n.needs_grad(0)) {
                             grads[0] = batched_gemm<T>(g, false, bv, true, n.input_shape(0));
                         }
                         if (n.needs_grad(1)) {
                             grads[1] = batched_gemm<T>(av, true, g, false, n.input_shape(1));
                         }
                         return grads;
                     });
}

template Tensor<float> matmul(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> matmul(const Tensor<double>&, const Tensor<double>&);

}  // namespace tg
