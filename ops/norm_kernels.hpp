// The tuned loops of the normalisation family: batch norm, layer norm and group norm, each laid
// out by a NormLayout (ops/norm_layout.hpp). They compute the closed form derived in ops/norm.cpp
// (and run there as ops under create_graph, tested equal to these): per set, a mean and a
// variance; then y = (x - mean) * gamma * inv_std + beta; backward,
//   dL/dx = inv_std dL/dxhat + dL/dsigma2 * 2 (x - mean) / N + dL/dmu / N,   dL/dxhat = gamma dy.
// The statistics and the per-set sums are kept in float64 whatever T is; large inputs are shared
// among threads, with results that do not depend on which thread finished first.
#pragma once

#include "ops/norm_layout.hpp"

namespace tg {

// 1 / sqrt(var + eps) for each value of var.
Array<double> inv_std_of(const Array<double>& var, double eps);

// The mean and the biased variance of each set, in one pass over x.
template <class T>
void norm_stats(const T* x, const NormLayout& layout, double* mean, double* var);

// y = (x - mean) * gamma * inv_std + beta with given statistics (one per set); gamma and beta may
// be null (no affine).
template <class T>
void norm_apply(const T* x, const NormLayout& layout, const double* mean, const double* inv_std, const T* gamma,
                const T* beta, T* y);

// Training forward in one call: norm_stats, inv_std = 1 / sqrt(var + eps) and norm_apply (per
// sample, each set is normalised while it is still in cache).
template <class T>
void norm_forward(const T* x, const NormLayout& layout, const T* gamma, const T* beta, double eps, double* mean,
                  double* var, double* inv_std, T* y);

// dx, dgamma and dbeta from dy, each skipped if its pointer is null. `training`: the statistics
// were the batch's own, so dL/dx includes their dependence on x (dL/dsigma2 and dL/dmu); otherwise
// they were constants (evaluation mode) and dL/dx = inv_std dL/dxhat.
template <class T>
void norm_backward(const T* dy, const T* x, const NormLayout& layout, const double* mean, const double* inv_std,
                   const T* gamma, bool training, T* dx, T* dgamma, T* dbeta);

}  // namespace tg
