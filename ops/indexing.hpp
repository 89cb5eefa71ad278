// Indexing: rows of a table by integer indices (an embedding lookup C[X], or index_select), and
// one element per row (logprobs[range(n), Y]). The backward of an indexing op adds the gradients
// back into the rows they came from: a row used twice gets both.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace tg {

// Rows of `table` picked by `index` (any shape): the result has shape index.shape + table.shape[1:],
// so C[X] for an embedding table C (vocab, dim) and a batch of contexts X (N, block) is (N, block, dim).
// Gradient: each row's gradient added into the table row it came from (scatter-add).
template <class T> Tensor<T> take_rows(const Tensor<T>& table, const Array<std::int64_t>& index);
// The entries named by a 1-D index along `axis`.
template <class T> Tensor<T> index_select(const Tensor<T>& x, int axis, const std::vector<std::int64_t>& index);
// x[i, cols[i]] for each row i of a 2-D x: logprobs[range(n), Y].
template <class T> Tensor<T> pick(const Tensor<T>& x, const std::vector<std::int64_t>& cols);

}  // namespace tg
