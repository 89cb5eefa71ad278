// The tuned loops of layer norm and group norm: each normalises rows of x on their own (a sample's
// trailing dimensions, or a sample's group of channels), where batch norm normalises across the
// batch. They compute the closed form derived in ops/norm.cpp in two passes over a row for the
// forward and two for the backward, per-row sums in float64, rows shared among threads for large
// inputs.
#pragma once

#include "core/tensor.hpp"

namespace tg {

// x viewed as `rows` rows normalised on their own, each of `blocks` blocks of `inner` contiguous
// values; the affine parameters are indexed by (row % groups) * blocks + block.
//   layer norm: a row is a sample's normalized_shape, groups = 1, blocks = its size, inner = 1
//               (gamma and beta have one value per position of the row);
//   group norm: a row is one group of one sample, groups = G, blocks = C / G channels, inner =
//               the spatial size (gamma and beta have one value per channel).
struct RowLayout {
    std::size_t rows = 0;
    std::size_t groups = 1;
    std::size_t blocks = 1;
    std::size_t inner = 1;
    std::size_t count() const { return blocks * inner; }    // values per row (N in the closed form)
    std::size_t params() const { return groups * blocks; }  // values of gamma and of beta
};

// mean[r], inv_std[r] = 1/sqrt(var[r] + eps) (the biased variance) and y = xhat * gamma + beta;
// gamma and beta may be null (no affine).
template <class T>
void rownorm_forward(const T* x, const RowLayout& layout, const T* gamma, const T* beta, double eps,
                     double* mean, double* inv_std, T* y);

// dx, dgamma and dbeta from dy, each skipped if its pointer is null.
template <class T>
void rownorm_backward(const T* dy, const T* x, const RowLayout& layout, const double* mean,
                      const double* inv_std, const T* gamma, T* dx, T* dgamma, T* dbeta);

}  // namespace tg
