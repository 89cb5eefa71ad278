// Batch normalisation as plain functions, in the style of the cs231n assignment: forward returns
// the output and a cache, backward takes dL/dy and the cache and returns dx, dgamma, dbeta.
// The fused tape node (ops/batchnorm.hpp) is a thin wrapper around the same loops.
//
// The statistics are taken over `axes`; the axes kept form the feature (channel) block. PyTorch's
// layout reduces every axis but 1 ((N, C), (N, C, L), (N, C, H, W)); NumPy tutorials reduce axis
// 0 only, making every other element its own feature. Both are one call away.
#pragma once

#include "core/tensor.hpp"

namespace tg {

// x viewed as (outer, channels, inner): the reduced axes are a leading block and a trailing block,
// the kept ones in between.
struct ChannelLayout {
    std::size_t outer = 1;
    std::size_t channels = 1;
    std::size_t inner = 1;
    Shape stat_shape;   // the kept axes: the shape of mean, var, gamma and beta
    Shape keep_shape;   // x's shape with reduced axes set to 1, for broadcasting
    std::size_t count() const { return outer * inner; }  // values per feature (n)
};

// Throws ShapeError naming `op` if the kept axes are not contiguous.
ChannelLayout channel_layout(const char* op, const Shape& x, const Axes& axes);

// Throws ShapeError naming `op` and `what` unless `shape` has one value per feature.
void check_per_feature(const char* op, const char* what, const Shape& shape, const ChannelLayout& layout);

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

// 1 / sqrt(var + eps) per feature.
Array<double> batchnorm_inv_std(const Array<double>& var, double eps);

// ---- the loops themselves, shared by the plain functions and the fused node -----------------

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
