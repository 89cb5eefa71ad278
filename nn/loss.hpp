// Losses, as PyTorch's functional ones with reduction='mean'.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace tg::nn {

// Cross-entropy of logits (N, C) against integer labels in [0, C): nll_loss(log_softmax(logits)).
template <class T>
Tensor<T> cross_entropy(const Tensor<T>& logits, const std::vector<std::int64_t>& labels);

// Mean squared error: mean((prediction - target)^2), shapes equal.
template <class T>
Tensor<T> mse(const Tensor<T>& prediction, const Tensor<T>& target);

}  // namespace tg::nn
