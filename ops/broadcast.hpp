// Broadcasting and its adjoint.
//
// Note: NumPy broadcasting copies a value along new or size-1 axes; the adjoint of a copy is a
// sum. So every binary op computes its gradient in the output's shape and hands it to
// sum_to_shape, which sums it back down to the input's shape. One helper, one rule.
#pragma once

#include "core/tensor.hpp"

namespace tg {

// The shape NumPy would broadcast `a` and `b` to; throws ShapeError naming `op` otherwise.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

// Sums `grad` over the axes that broadcasting added or stretched, giving an array of `shape`.
// From a temporary, an unbroadcast gradient is moved through; from a reference it is copied only
// when nothing needs summing, and summed straight from the source otherwise.
template <class T>
Array<T> sum_to_shape(Array<T>&& grad, const Shape& shape);
template <class T>
Array<T> sum_to_shape(const Array<T>& grad, const Shape& shape);

// The same as an op on tensors, so that a backward rule using it can be differentiated again
// (its backward is expand, and expand's is sum_to). Returns `x` itself when it has the shape.
template <class T>
Tensor<T> sum_to(const Tensor<T>& x, const Shape& shape);

// Copies `x` along the axes given (kept as size 1 in `x`) to `shape`: the adjoint of a sum.
template <class T>
Array<T> broadcast_to(const Array<T>& x, const Shape& shape);

}  // namespace tg
