// Reductions that are not sums: the extremes (amax, amin, and max and min over everything), the
// variance and standard deviation with a correction, and a stable logsumexp. Axes as for sum and
// mean: negative counts from the end, an empty list means every axis.
#pragma once

#include "core/tensor.hpp"

namespace tg {

// The largest (smallest) value over `axes`. Where several elements tie for it, the gradient is
// split evenly among them, and it is picked, not masked: elements not chosen get 0 even from an
// infinite upstream. NaN wins the value. Then amax and amin give the slice a NaN gradient
// (PyTorch's amax and amin), while max() and min() over everything send it to the NaNs
// (PyTorch's max() and min() without a dimension).
template <class T> Tensor<T> amax(const Tensor<T>& x, const std::vector<int>& axes = {}, bool keepdims = false);
template <class T> Tensor<T> amin(const Tensor<T>& x, const std::vector<int>& axes = {}, bool keepdims = false);
template <class T> Tensor<T> max(const Tensor<T>& x);
template <class T> Tensor<T> min(const Tensor<T>& x);

// sum((x - mean)^2) / (n - correction) over `axes`: correction 0 is the biased variance batch norm
// normalises with, 1 the unbiased one its running variance keeps (and NumPy's ddof).
template <class T>
Tensor<T> var(const Tensor<T>& x, const std::vector<int>& axes = {}, int correction = 1, bool keepdims = false);
template <class T>
Tensor<T> std(const Tensor<T>& x, const std::vector<int>& axes = {}, int correction = 1, bool keepdims = false);

// log(sum(exp(x))) over `axes`, shifted by the maximum so that large values do not overflow.
template <class T> Tensor<T> logsumexp(const Tensor<T>& x, const std::vector<int>& axes, bool keepdims = false);

}  // namespace tg
