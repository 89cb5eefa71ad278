// The tuned loops of batch norm, shared by the fused tape node (ops/batchnorm.hpp) and the
// cs231n-style functions (ops/batchnorm_arrays.hpp). They compute the same closed form as
// batchnorm_backward_reference in ops/batchnorm.cpp (tested equal), in one pass over the data per
// step, per-feature sums in float64, across threads for large inputs.
#pragma once

#include "ops/batchnorm_layout.hpp"

namespace tg {

// 1 / sqrt(var + eps) per feature.
Array<double> batchnorm_inv_std(const Array<double>& var, double eps);

// Biased mean and variance per feature, two passes accumulated in double.
template <class T>
void batchnorm_stats(const T* x, const ChannelLayout& layout, double* mean, double* var);

// y = (x - mean) * (gamma * inv_std) + beta, with per-feature coefficients computed once.
// gamma and beta may be null (no affine).
template <class T>
void batchnorm_normalize(const T* x, const ChannelLayout& layout, const double* mean,
                         const double* inv_std, const T* gamma, const T* beta, T* y);

// Training forward in one call: the statistics (as batchnorm_stats), inv_std = 1/sqrt(var + eps)
// and y (as batchnorm_normalize).
template <class T>
void batchnorm_train_forward(const T* x, const ChannelLayout& layout, const T* gamma, const T* beta, double eps,
                             double* mean, double* var, double* inv_std, T* y);

// dx, dgamma and dbeta from dy, each skipped if its pointer is null; `training` selects the closed
// form that includes the batch statistics' dependence on x.
template <class T>
void batchnorm_grads(const T* dy, const T* x, const ChannelLayout& layout, const double* mean,
                     const double* inv_std, const T* gamma, bool training, T* dx, T* dgamma,
                     T* dbeta);

}  // namespace tg
