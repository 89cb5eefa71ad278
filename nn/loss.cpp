#include "nn/loss.hpp"

#include <fmt/format.h>

#include "ops/activations.hpp"
#include "ops/elementwise.hpp"
#include "ops/reductions.hpp"

namespace tg::nn {

template <class T>
Tensor<T> cross_entropy(const Tensor<T>& logits, const std::vector<std::int64_t>& labels, const NllOptions& options) {
    if (logits.dim() != 2) {
        throw ShapeError(fmt::format("cross_entropy: expected logits (N, C), got {}", shape_str(logits.shape())));
    }
    return nll_loss(log_softmax(logits, 1), labels, options);
}

template <class T>
Tensor<T> mse(const Tensor<T>& prediction, const Tensor<T>& target) {
    if (prediction.shape() != target.shape()) {
        throw ShapeError(fmt::format("mse: prediction and target must have the same shape; got {} and {}",
                                     shape_str(prediction.shape()), shape_str(target.shape())));
    }
    return mean(pow(prediction - target, 2));
}

template Tensor<float> cross_entropy(const Tensor<float>&, const std::vector<std::int64_t>&, const NllOptions&);
template Tensor<double> cross_entropy(const Tensor<double>&, const std::vector<std::int64_t>&, const NllOptions&);
template Tensor<float> mse(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> mse(const Tensor<double>&, const Tensor<double>&);

}  // namespace tg::nn
