// Batch normalisation on plain arrays, in the style of the cs231n assignment: forward returns the
// output and a cache, backward takes dL/dy and the cache and returns dx, dgamma, dbeta. The same
// tuned loops as the fused tape node (ops/norm_kernels.hpp); no tape involved.
#pragma once

#include "ops/norm_layout.hpp"

namespace tg {

// Note: the statistics are kept in float64 whatever T is. A float32 mean of data centred at 1e4
// is off by up to 2^-11 (float32's half-spacing there), which is 5% of a standard deviation of
// 1e-2; in float64 the same data normalises to unit variance.
template <class T>
struct BatchNormCache {
    Array<T> x;
    Array<double> mean;     // per feature: the batch mean (training) or the running mean (eval)
    Array<double> var;      // per feature: the BIASED batch variance (training) or the running one
    Array<double> inv_std;  // 1 / sqrt(var + eps)
    Array<T> gamma;
    Axes axes;
    bool training = true;
};

template <class T>
struct BatchNormGrads {
    Array<T> dx;
    Array<T> dgamma;
    Array<T> dbeta;
};

// Training: normalise with the batch statistics over `axes`. gamma and beta have the kept axes'
// shape (ChannelLayout::stat_shape).
template <class T>
std::pair<Array<T>, BatchNormCache<T>> batchnorm_forward(const Array<T>& x, const Array<T>& gamma,
                                                         const Array<T>& beta, const Axes& axes,
                                                         double eps);

// Evaluation: normalise with given (running) statistics, which are constants for backward.
template <class T>
std::pair<Array<T>, BatchNormCache<T>> batchnorm_forward_eval(
    const Array<T>& x, const Array<T>& gamma, const Array<T>& beta, const Array<T>& running_mean,
    const Array<T>& running_var, const Axes& axes, double eps);

template <class T>
BatchNormGrads<T> batchnorm_backward(const Array<T>& dy, const BatchNormCache<T>& cache);

// The textbook's intermediate gradients, each from its own line of the derivation (training
// mode): dL/dxhat = gamma dy, dL/dsigma2 = sum dL/dxhat (x - mu) (-1/2) (sigma2 + eps)^(-3/2),
// dL/dmu = -sum dL/dxhat / std + dL/dsigma2 (-2/N) sum (x - mu). For teaching and for comparing
// with the composite graph; batchnorm_backward does not need them.
template <class T>
struct BatchNormStages {
    Array<T> dxhat;    // x's shape
    Array<T> dsigma2;  // per feature
    Array<T> dmu;      // per feature
};

template <class T>
BatchNormStages<T> batchnorm_backward_stages(const Array<T>& dy, const BatchNormCache<T>& cache);

}  // namespace tg
