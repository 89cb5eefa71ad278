// Shapes learners reach for (squeeze, unsqueeze, flatten, transpose of two axes, expand, cat,
// stack) and indexing: rows of a table by integer indices (an embedding lookup C[X], or
// index_select along axis 0), and one element per row (logprobs[range(n), Y]). The backward of an
// indexing op adds the gradients back into the rows they came from: a row used twice gets both.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace tg {

template <class T> Tensor<T> squeeze(const Tensor<T>& x, int axis);    // drops a size-1 axis
template <class T> Tensor<T> unsqueeze(const Tensor<T>& x, int axis);  // inserts a size-1 axis
// axes start..end (inclusive, negative from the end) merged into one
template <class T> Tensor<T> flatten(const Tensor<T>& x, int start = 0, int end = -1);
// two axes swapped, any rank
template <class T> Tensor<T> transpose(const Tensor<T>& x, int axis0, int axis1);
// x repeated to `shape` as broadcasting would (PyTorch's expand, NumPy's broadcast_to); the
// gradient is summed back over the repeated axes
template <class T> Tensor<T> expand(const Tensor<T>& x, const Shape& shape);
template <class T> Tensor<T> broadcast_to(const Tensor<T>& x, const Shape& shape) { return expand(x, shape); }
// tensors joined along an existing axis (cat) or a new one (stack); the gradient is cut back
template <class T> Tensor<T> cat(const std::vector<Tensor<T>>& xs, int axis = 0);
template <class T> Tensor<T> stack(const std::vector<Tensor<T>>& xs, int axis = 0);
// elements [start, start + length) along one axis (PyTorch's narrow); the gradient is padded back
template <class T> Tensor<T> narrow(const Tensor<T>& x, int axis, std::size_t start, std::size_t length);

// Rows of `table` picked by `index` (any shape): the result has shape index.shape + table.shape[1:],
// so C[X] for an embedding table C (vocab, dim) and a batch of contexts X (N, block) is (N, block, dim).
// Gradient: each row's gradient added into the table row it came from (scatter-add).
template <class T> Tensor<T> take_rows(const Tensor<T>& table, const Array<std::int64_t>& index);
// index_select(x, axis, index) for axis 0: the rows named by a 1-D index.
template <class T> Tensor<T> index_select(const Tensor<T>& x, int axis, const std::vector<std::int64_t>& index);
// x[i, cols[i]] for each row i of a 2-D x: logprobs[range(n), Y].
template <class T> Tensor<T> pick(const Tensor<T>& x, const std::vector<std::int64_t>& cols);

}  // namespace tg
