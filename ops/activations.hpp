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

// PyTorch's nll_loss options: how the rows' losses are combined, a label whose rows count for
// nothing, and a weight per class.
enum class Reduction { mean, sum, none };
struct NllOptions {
    Reduction reduction = Reduction::mean;  // mean: sum_i w[y_i] loss_i / sum_i w[y_i]
    std::int64_t ignore_index = -100;       // rows with this label add nothing (not even weight)
    std::vector<double> weight;             // one per class; empty: all 1
};

// -logp[i, labels[i]] per row, combined as options.reduction says: PyTorch's nll_loss. logp is
// (N, C), labels in [0, C) (or ignore_index). The mean of no rows (all ignored) is NaN, as PyTorch.
template <class T>
Tensor<T> nll_loss(const Tensor<T>& logp, const std::vector<std::int64_t>& labels, const NllOptions& options = {});

}  // namespace tg
