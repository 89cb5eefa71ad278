// Ops that move values without changing them: reshape, permute and transpose, squeeze, unsqueeze,
// flatten, expand, narrow, and cat and stack. Each gradient is the move undone (reshaped back,
// permuted back, summed over the repeated axes, padded back, cut back).
#pragma once

#include <vector>

#include "core/tensor.hpp"

namespace tg {

// The same values in a new shape; one entry may be -1 (inferred from the others).
template <class T> Tensor<T> reshape(const Tensor<T>& x, const std::vector<long>& shape);
// a Shape as reshape's argument
std::vector<long> as_long(const Shape& s);

// Rows and columns swapped (2-D only).
template <class T> Tensor<T> transpose(const Tensor<T>& x);
// two axes swapped, any rank
template <class T> Tensor<T> transpose(const Tensor<T>& x, int axis0, int axis1);
// Axes reordered: result axis i is input axis perm[i].
template <class T> Tensor<T> permute(const Tensor<T>& x, const std::vector<std::size_t>& perm);

template <class T> Tensor<T> squeeze(const Tensor<T>& x, int axis);    // drops a size-1 axis
template <class T> Tensor<T> unsqueeze(const Tensor<T>& x, int axis);  // inserts a size-1 axis
// axes start..end (inclusive, negative from the end) merged into one
template <class T> Tensor<T> flatten(const Tensor<T>& x, int start = 0, int end = -1);

// x repeated to `shape` as broadcasting would (PyTorch's expand, NumPy's broadcast_to); the
// gradient is summed back over the repeated axes
template <class T> Tensor<T> expand(const Tensor<T>& x, const Shape& shape);
template <class T> Tensor<T> broadcast_to(const Tensor<T>& x, const Shape& shape) { return expand(x, shape); }

// elements [start, start + length) along one axis (PyTorch's narrow); the gradient is padded back
template <class T> Tensor<T> narrow(const Tensor<T>& x, int axis, std::size_t start, std::size_t length);
// tensors joined along an existing axis (cat) or a new one (stack); the gradient is cut back
template <class T> Tensor<T> cat(const std::vector<Tensor<T>>& xs, int axis = 0);
template <class T> Tensor<T> stack(const std::vector<Tensor<T>>& xs, int axis = 0);

// `axis` of a tensor with `rank` axes as an index (negative counts from the end); throws
// ShapeError naming `op` when it is out of range.
std::size_t axis_of(const char* op, int axis, std::size_t rank);

}  // namespace tg
