#include "ops/batchnorm_arrays.hpp"

#include <fmt/format.h>

#include <vector>

#include "ops/norm_kernels.hpp"

namespace tg {

namespace {

// Normalises x with the cache's statistics (mean and var already set) and completes the cache.
template <class T>
Array<T> normalize_with(BatchNormCache<T>& cache, const ChannelLayout& L, const Array<T>& beta, double eps) {
    cache.inv_std = inv_std_of(cache.var, eps);
    Array<T> y = tg::empty<T>(cache.x.shape());
    norm_apply(cache.x.data(), L, cache.mean.data(), cache.inv_std.data(), cache.gamma.data(), beta.data(), y.data());
    return y;
}

template <class T>
BatchNormCache<T> start_cache(const char* op, const Array<T>& x, const Array<T>& gamma, const Array<T>& beta,
                              const Axes& axes, bool training, ChannelLayout& L) {
    L = channel_layout(op, x.shape(), axes);
    check_per_feature(op, "gamma", gamma.shape(), L);
    check_per_feature(op, "beta", beta.shape(), L);
    BatchNormCache<T> cache;
    cache.x = x;
    cache.gamma = gamma;
    cache.axes = axes;
    cache.training = training;
    return cache;
}

}  // namespace

template <class T>
std::pair<Array<T>, BatchNormCache<T>> batchnorm_forward(const Array<T>& x, const Array<T>& gamma,
                                                         const Array<T>& beta, const Axes& axes,
                                                         double eps) {
    ChannelLayout L;
    BatchNormCache<T> cache = start_cache("batchnorm_forward", x, gamma, beta, axes, true, L);
    cache.mean = tg::empty<double>(L.stat_shape);
    cache.var = tg::empty<double>(L.stat_shape);
    cache.inv_std = tg::empty<double>(L.stat_shape);
    Array<T> y = tg::empty<T>(x.shape());
    norm_forward(x.data(), L, gamma.data(), beta.data(), eps, cache.mean.data(), cache.var.data(),
                 cache.inv_std.data(), y.data());
    return {std::move(y), std::move(cache)};
}

template <class T>
std::pair<Array<T>, BatchNormCache<T>> batchnorm_forward_eval(
    const Array<T>& x, const Array<T>& gamma, const Array<T>& beta, const Array<T>& running_mean,
    const Array<T>& running_var, const Axes& axes, double eps) {
    ChannelLayout L;
    BatchNormCache<T> cache = start_cache("batchnorm_forward_eval", x, gamma, beta, axes, false, L);
    check_per_feature("batchnorm_forward_eval", "running_mean", running_mean.shape(), L);
    check_per_feature("batchnorm_forward_eval", "running_var", running_var.shape(), L);
    cache.mean = xt::cast<double>(running_mean);
    cache.var = xt::cast<double>(running_var);
    Array<T> y = normalize_with(cache, L, beta, eps);
    return {std::move(y), std::move(cache)};
}

template <class T>
BatchNormGrads<T> batchnorm_backward(const Array<T>& dy, const BatchNormCache<T>& cache) {
    const Shape shape = cache.x.shape();
    if (dy.shape() != shape) {
        throw ShapeError(fmt::format(
            "batchnorm_backward: dy must have the input's shape; expected {}, got {}",
            shape_str(shape), shape_str(dy.shape())));
    }
    const ChannelLayout L = channel_layout("batchnorm_backward", shape, cache.axes);
    BatchNormGrads<T> g;
    g.dx = tg::empty<T>(shape);
    g.dgamma = tg::empty<T>(L.stat_shape);
    g.dbeta = tg::empty<T>(L.stat_shape);
    norm_backward(dy.data(), cache.x.data(), L, cache.mean.data(), cache.inv_std.data(), cache.gamma.data(),
                  cache.training, g.dx.data(), g.dgamma.data(), g.dbeta.data());
    return g;
}

template <class T>
BatchNormStages<T> batchnorm_backward_stages(const Array<T>& dy, const BatchNormCache<T>& cache) {
    const Shape shape = cache.x.shape();
    const ChannelLayout L = channel_layout("batchnorm_backward_stages", shape, cache.axes);
    const std::size_t C = L.channels;
    const std::size_t I = L.inner;
    const double n = static_cast<double>(L.count());
    BatchNormStages<T> s;
    s.dxhat = tg::empty<T>(shape);
    std::vector<double> dsigma2(C, 0.0), sum_dxhat(C, 0.0), sum_xc(C, 0.0);
    for (std::size_t o = 0; o < L.outer; ++o) {
        for (std::size_t c = 0; c < C; ++c) {
            const double g = cache.gamma.size() ? static_cast<double>(cache.gamma.data()[c]) : 1.0;
            for (std::size_t i = 0; i < I; ++i) {
                const std::size_t k = (o * C + c) * I + i;
                const double dxhat = g * static_cast<double>(dy.data()[k]);
                const double xc = static_cast<double>(cache.x.data()[k]) - cache.mean.data()[c];
                s.dxhat.data()[k] = static_cast<T>(dxhat);
                dsigma2[c] += dxhat * xc;
                sum_dxhat[c] += dxhat;
                sum_xc[c] += xc;
            }
        }
    }
    s.dsigma2 = tg::empty<T>(L.stat_shape);
    s.dmu = tg::empty<T>(L.stat_shape);
    for (std::size_t c = 0; c < C; ++c) {
        const double inv = cache.inv_std.data()[c];
        const double ds2 = dsigma2[c] * -0.5 * inv * inv * inv;
        s.dsigma2.data()[c] = static_cast<T>(ds2);
        s.dmu.data()[c] = static_cast<T>(-sum_dxhat[c] * inv + ds2 * -2.0 * sum_xc[c] / n);
    }
    return s;
}

#define TG_INSTANTIATE(T)                                                                          \
    template std::pair<Array<T>, BatchNormCache<T>> batchnorm_forward(                             \
        const Array<T>&, const Array<T>&, const Array<T>&, const Axes&, double);                  \
    template std::pair<Array<T>, BatchNormCache<T>> batchnorm_forward_eval(                        \
        const Array<T>&, const Array<T>&, const Array<T>&, const Array<T>&, const Array<T>&,       \
        const Axes&, double);                                                                      \
    template BatchNormGrads<T> batchnorm_backward(const Array<T>&, const BatchNormCache<T>&);      \
    template BatchNormStages<T> batchnorm_backward_stages(const Array<T>&, const BatchNormCache<T>&);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg
