#include "ops/matmul.hpp"

#include <fmt/format.h>

#include <xtensor-blas/xblas.hpp>

#include "ops/broadcast.hpp"
#include "ops/reductions.hpp"
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
    Array<T> out = tg::empty<T>(out_shape);
    for (std::size_t i = 0; i < batch; ++i) {
        gemm<T>(ta, tb, m, n, k, a.data() + i * m * k, b.data() + i * k * n, out.data() + i * m * n);
    }
    return out;
}

// op(a) @ op(b) for a and b of equal rank >= 2 with equal batch dimensions, op = transpose (of
// the last two axes) where asked: the node. Its backward is made of the same node with other
// transposes, so it can be differentiated again; BLAS reads the transposes in place, no copy.
template <class T>
Tensor<T> mm(const Tensor<T>& a, bool ta, const Tensor<T>& b, bool tb) {
    const Shape sa = a.shape();
    const std::size_t d = sa.size();
    Shape so = sa;
    so[d - 2] = ta ? sa[d - 1] : sa[d - 2];
    so[d - 1] = tb ? b.shape()[d - 2] : b.shape()[d - 1];
    Tensor<T> out(batched_gemm<T>(a.value(), ta, b.value(), tb, so));
    // C = A B: dA = G B^T, dB = A^T G; with A or B transposed, the same identities transposed
    return record<T>(out, "matmul", {a, b}, {a, b}, "dA = g @ B^T, dB = A^T @ g",
                     [ta, tb](const Node<T>& n, const Tensor<T>& g) {
                         const Tensor<T> A = n.saved(0), B = n.saved(1);
                         Tensor<T> da = Tensor<T>::none(), db = Tensor<T>::none();
                         if (n.needs_grad(0)) {
                             da = !ta ? mm(g, false, B, !tb) : tb ? mm(B, true, g, true) : mm(B, false, g, true);
                         }
                         if (n.needs_grad(1)) {
                             db = !tb ? mm(A, !ta, g, false) : ta ? mm(g, true, A, true) : mm(g, true, A, false);
                         }
                         return grads<T>(da, db);
                     });
}

template <class T>
Tensor<T> matmul_batches(const Tensor<T>& a, const Tensor<T>& b) {
    return mm(a, false, b, false);
}

}  // namespace

// NumPy's matmul rules: a 1-D operand is a row (a) or a column (b) vector, its axis dropped from
// the result; batch dimensions broadcast (expand repeats an operand, and its backward sums the
// repeats back); equal batch dimensions go straight to the node.
template <class T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b) {
    const Shape sa = a.shape();
    const Shape sb = b.shape();
    if (sa.empty() || sb.empty()) {
        throw ShapeError(fmt::format("matmul: a 0-d operand has no rows or columns: a is {}, b is {}; multiply with * instead",
                                     shape_str(sa), shape_str(sb)));
    }
    const std::size_t ka = sa.back(), kb = sb.size() == 1 ? sb[0] : sb[sb.size() - 2];
    if (ka != kb) {
        throw ShapeError(fmt::format(
            "matmul: inner dimensions differ: a is {}, b is {}; a's last dimension must equal b's second to last",
            shape_str(sa), shape_str(sb)));
    }
    if (sa.size() == 1 && sb.size() == 1) {
        return reshape(matmul_batches(reshape(a, {1, static_cast<long>(ka)}), reshape(b, {static_cast<long>(ka), 1})), {});
    }
    if (sa.size() == 1) {
        return squeeze(matmul(unsqueeze(a, 0), b), -2);
    }
    if (sb.size() == 1) {
        return squeeze(matmul(a, unsqueeze(b, 1)), -1);
    }
    const Shape batch_a(sa.begin(), sa.end() - 2), batch_b(sb.begin(), sb.end() - 2);
    if (batch_a == batch_b) {
        return matmul_batches(a, b);
    }
    Shape batch;
    try {
        batch = broadcast_shapes("matmul", batch_a, batch_b);
    } catch (const ShapeError&) {
        throw ShapeError(fmt::format("matmul: batch dimensions cannot be broadcast: a is {}, b is {}; the dimensions before "
                                     "the last two must be equal or 1",
                                     shape_str(sa), shape_str(sb)));
    }
    Shape ea = batch, eb = batch;
    ea.insert(ea.end(), sa.end() - 2, sa.end());
    eb.insert(eb.end(), sb.end() - 2, sb.end());
    return matmul_batches(sa == ea ? a : expand(a, ea), sb == eb ? b : expand(b, eb));
}

template <class T>
Tensor<T> linear(const Tensor<T>& x, const Tensor<T>& weight, const std::optional<Tensor<T>>& bias) {
    const Shape sx = x.shape();
    const Shape sw = weight.shape();
    if (sx.size() != 2 || sw.size() != 2 || sx[1] != sw[1]) {
        throw ShapeError(fmt::format(
            "linear: expected x (N, in) and weight (out, in) with the same in; x is {}, weight is {}",
            shape_str(sx), shape_str(sw)));
    }
    if (bias && bias->shape() != Shape{sw[0]}) {
        throw ShapeError(fmt::format("linear: bias must have shape [{}] (one per output), got {}", sw[0],
                                     shape_str(bias->shape())));
    }
    const std::size_t n = sx[0], in = sx[1], out = sw[0];
    Array<T> y = tg::empty<T>({n, out});
    gemm<T>(false, true, n, out, in, x.value().data(), weight.value().data(), y.data());
    if (bias) {
        const T* b = bias->value().data();
        for (std::size_t i = 0; i < n; ++i) {
            T* row = y.data() + i * out;
            for (std::size_t j = 0; j < out; ++j) {
                row[j] += b[j];
            }
        }
    }
    std::vector<Tensor<T>> inputs{x, weight};
    if (bias) {
        inputs.push_back(*bias);
    }
    // y = x W^T + b: dx = g W, dW = g^T x, db = sum of g over the rows
    return record<T>(
        Tensor<T>(std::move(y)), "linear", std::move(inputs), {x, weight},
        "dx = g @ W, dW = g^T @ x, db = sum(g, 0)", [](const Node<T>& node, const Tensor<T>& g) {
            Grads<T> grads(node.inputs.size(), Tensor<T>::none());
            if (node.needs_grad(0)) {
                grads[0] = mm(g, false, node.saved(1), false);
            }
            if (node.needs_grad(1)) {
                grads[1] = mm(g, true, node.saved(0), false);
            }
            if (node.inputs.size() == 3 && node.needs_grad(2)) {
                grads[2] = sum(g, {0});
            }
            return grads;
        });
}

template Tensor<float> linear(const Tensor<float>&, const Tensor<float>&, const std::optional<Tensor<float>>&);
template Tensor<double> linear(const Tensor<double>&, const Tensor<double>&, const std::optional<Tensor<double>>&);
template Tensor<float> matmul(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> matmul(const Tensor<double>&, const Tensor<double>&);

}  // namespace tg
