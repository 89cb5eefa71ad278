// Batch normalisation on the tape, the first of the normalisation family (ops/norm.hpp), built two
// ways that must agree:
//
//   composite  the textbook graph mu -> xc -> sigma2 -> std -> xhat -> y, every step a primitive
//              op with a name; its gradient comes from the engine alone (no backward code here)
//   fused      one node "batch_norm" whose backward is the closed form
//              dx = gamma * inv_std / N * (N*dy - sum(dy) - xhat * sum(dy*xhat))
//
// Both reduce over `axes` (PyTorch: every axis but 1) and take gamma and beta of the kept axes'
// shape, or none (affine = false). The modules in nn/batchnorm.hpp add the running statistics.
#pragma once

#include <optional>

#include "ops/norm.hpp"

namespace tg {

template <class T>
struct BatchNormOutput {
    Tensor<T> y;
    Array<double> batch_mean;  // per feature, for the running statistics (training only)
    Array<double> batch_var;   // per feature, BIASED (divided by n), as used to normalise
    std::size_t count = 0;  // values per feature (n)
};

// Training mode, from primitives.
template <class T>
BatchNormOutput<T> batchnorm_composite(const Tensor<T>& x, const OptionalTensor<T>& gamma,
                                       const OptionalTensor<T>& beta, const Axes& axes, double eps);
// Training mode, one node.
template <class T>
BatchNormOutput<T> batchnorm_fused(const Tensor<T>& x, const OptionalTensor<T>& gamma,
                                   const OptionalTensor<T>& beta, const Axes& axes, double eps);

// Evaluation mode: given statistics (the running ones), constants for backward.
template <class T>
Tensor<T> batchnorm_composite_eval(const Tensor<T>& x, const OptionalTensor<T>& gamma,
                                   const OptionalTensor<T>& beta, const Array<T>& mean,
                                   const Array<T>& var, const Axes& axes, double eps);
template <class T>
Tensor<T> batchnorm_fused_eval(const Tensor<T>& x, const OptionalTensor<T>& gamma,
                               const OptionalTensor<T>& beta, const Array<T>& mean,
                               const Array<T>& var, const Axes& axes, double eps);

// The fused node's closed form written with ops, short enough to read beside the composite graph:
//   dxhat  = g * gamma
//   dx     = inv_std / N * (N*dxhat - sum(dxhat) - xhat * sum(dxhat * xhat))   (training)
//   dx     = inv_std * dxhat                                                  (evaluation)
//   dgamma = sum(g * xhat), dbeta = sum(g)
// the sums over `axes`. In training the statistics are recomputed from x, in evaluation they are
// the given mean and var (constants). The fused node runs this under create_graph, so that its
// gradient keeps its dependence on x and can be differentiated again, to any order; an ordinary
// backward runs the family's kernels (ops/norm_kernels.hpp), tested equal to this.
template <class T>
NormGradTensors<T> batchnorm_backward_reference(const Tensor<T>& g, const Tensor<T>& x,
                                                     const OptionalTensor<T>& gamma, const Axes& axes,
                                                     double eps, bool training,
                                                     const Array<double>& mean = {},
                                                     const Array<double>& var = {});

}  // namespace tg
