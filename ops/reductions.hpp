// Reductions over all elements or over given axes. Axes may be negative (-1 is the last); an
// empty list means every axis, as in PyTorch. keepdims keeps reduced axes as size 1.
#pragma once

#include "core/tensor.hpp"

namespace tg {

template <class T> Tensor<T> sum(const Tensor<T>& x);
template <class T> Tensor<T> sum(const Tensor<T>& x, const std::vector<int>& axes, bool keepdims = false);
template <class T> Tensor<T> mean(const Tensor<T>& x);
template <class T> Tensor<T> mean(const Tensor<T>& x, const std::vector<int>& axes, bool keepdims = false);

// The axes as sorted, distinct, non-negative indices; throws ShapeError naming `op` otherwise.
Axes normalize_axes(const char* op, const std::vector<int>& axes, std::size_t ndim);
// `shape` with the given axes set to 1.
Shape keepdims_shape(const Shape& shape, const Axes& axes);

}  // namespace tg
