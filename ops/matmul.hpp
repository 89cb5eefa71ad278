// Matrix multiplication through BLAS, and PyTorch's nn.Linear as one op.
#pragma once

#include <optional>

#include "ops/dtype.hpp"

namespace tg {

// a @ b through BLAS: (m, k) @ (k, n) -> (m, n); with more axes, a batch of matrices whose batch
// dimensions broadcast as NumPy's do; a 1-D a is a row vector and a 1-D b a column vector, their
// axis dropped from the result (so 1-D @ 1-D is a 0-d dot product).
template <class T> Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b);
// x @ weight^T + bias, PyTorch's nn.Linear: x (N, in), weight (out, in), bias (out) or none.
// One BLAS call each way; the transposes are read in place.
template <class T> Tensor<T> linear(const Tensor<T>& x, const Tensor<T>& weight, const std::optional<Tensor<T>>& bias);

template <class A, class B, if_mixed<A, B> = 0>
Tensor<A> matmul(const Tensor<A>& a, const Tensor<B>& b) { throw_dtype_mismatch("matmul", a, b); }

}  // namespace tg
