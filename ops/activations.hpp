// Activations and the numerically stable log-softmax.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace tg {

template <class T> Tensor<T> relu(const Tensor<T>& x);
template <class T> Tensor<T> tanh(const Tensor<T>& x);
template <class T> Tensor<T> sigmoid(const Tensor<T>& x);
// log(softmax(x)) along `axis` (default the last), computed as x - max - log(sum(exp(x - max)))
// so that logits of any magnitude stay finite.
template <class T> Tensor<T> log_softmax(const Tensor<T>& x, int axis = -1);
// exp(x - max) / sum(exp(x - max)) along `axis`: probabilities that sum to 1.
template <class T> Tensor<T> softmax(const Tensor<T>& x, int axis = -1);

// The mean over rows of -logp[i, labels[i]]: PyTorch's nll_loss. logp is (N, C), labels in [0, C).
template <class T> Tensor<T> nll_loss(const Tensor<T>& logp, const std::vector<std::int64_t>& labels);

}  // namespace tg
