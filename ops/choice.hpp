// Ops that choose between values: clamp, the element-wise maximum and minimum of two tensors, and
// where(cond, a, b). Each gradient goes to the value chosen.
#pragma once

#include <optional>

#include "core/tensor.hpp"

namespace tg {

// min(max(x, lo), hi): x limited to [lo, hi]. Either bound may be absent, not both (ValueError,
// as PyTorch); with lo > hi every value is hi. The gradient passes where lo <= x <= hi, and is 0
// where x was clamped (PyTorch's rule: at x == lo or x == hi it passes). NaN stays NaN.
template <class T>
Tensor<T> clamp(const Tensor<T>& x, std::optional<double> lo, std::optional<double> hi = std::nullopt);

// The larger (smaller) of a and b, element by element, broadcasting. The gradient goes to the one
// chosen, and is split in half where they are equal; NaN wins the value, and then both sides get
// the gradient (PyTorch's rules).
template <class T> Tensor<T> maximum(const Tensor<T>& a, const Tensor<T>& b);
template <class T> Tensor<T> minimum(const Tensor<T>& a, const Tensor<T>& b);

// a where cond is true, b elsewhere; cond, a and b broadcast together. The gradient goes to a
// where cond holds and to b elsewhere.
template <class T> Tensor<T> where(const Array<bool>& cond, const Tensor<T>& a, const Tensor<T>& b);

}  // namespace tg
