// The negative log-likelihood loss, PyTorch's nll_loss: the loss op with its own backward (the
// functional losses built on it, cross_entropy and mse, are in nn/loss.hpp).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace tg {

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
