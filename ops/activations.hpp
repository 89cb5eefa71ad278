// Activations, and the numerically stable log-softmax and softmax.
#pragma once

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

}  // namespace tg
