// Losses, as PyTorch's functional ones.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"
#include "ops/loss.hpp"

namespace tg::nn {

// Cross-entropy of logits (N, C) against integer labels in [0, C): nll_loss(log_softmax(logits)),
// with nll_loss's reduction, ignore_index and class weights.
template <class T>
Tensor<T> cross_entropy(const Tensor<T>& logits, const std::vector<std::int64_t>& labels, const NllOptions& options = {});

// Mean squared error: mean((prediction - target)^2), shapes equal.
template <class T>
Tensor<T> mse(const Tensor<T>& prediction, const Tensor<T>& target);

}  // namespace tg::nn
