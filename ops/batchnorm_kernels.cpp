#include "ops/batchnorm_kernels.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <vector>

namespace tg {

ChannelLayout channel_layout(const char* op, const Shape& x, const Axes& axes) {
    std::vector<bool> reduced(x.size(), false);
    for (std::size_t a : axes) {
        if (a >= x.size()) {
            throw ShapeError(fmt::format("{}: axis {} is out of range for an input of shape {}", op,
                                         a, shape_str(x)));
        }
        reduced[a] = true;
    }
    // first kept axis .. one past the last kept axis
    std::size_t k = 0;
    while (k < x.size() && reduced[k]) {
        ++k;
    }
    std::size_t j = k;
    while (j < x.size() && !reduced[j]) {
        ++j;
    }
    for (std::size_t a = j; a < x.size(); ++a) {
        if (!reduced[a]) {
            throw ShapeError(fmt::format(
                "{}: the axes kept as features must be contiguous; reducing over [{}] of shape {} "
                "leaves them split",
                op, fmt::join(axes, ", "), shape_str(x)));
        }
    }
    ChannelLayout layout;
    layout.keep_shape = x;
    for (std::size_t a = 0; a < x.size(); ++a) {
        if (a < k) {
            layout.outer *= x[a];
        } else if (a < j) {
            layout.channels *= x[a];
            layout.stat_shape.push_back(x[a]);
        } else {
            layout.inner *= x[a];
        }
        if (reduced[a]) {
            layout.keep_shape[a] = 1;
        }
    }
    return layout;
}

// Note: the element (o, c, i) of x viewed as (outer, channels, inner) is at (o*C + c)*inner + i.
// Rows are walked in memory order and per-feature sums kept in double, so the loops stream
// through x once per pass whatever the layout.

namespace {

// x - mean in T without losing the low bits of a double mean: mean = hi + lo with hi = T(mean)
// and lo = T(mean - hi). For x near the mean, x - hi is exact (Sterbenz) and lo corrects it, so
// float32 loops stay float32 and still centre data with a large mean correctly.
template <class T>
struct CentredMean {
    std::vector<T> hi;
    std::vector<T> lo;
    CentredMean(const double* mean, std::size_t n) : hi(n), lo(n) {
        for (std::size_t c = 0; c < n; ++c) {
            hi[c] = static_cast<T>(mean[c]);
            lo[c] = static_cast<T>(mean[c] - static_cast<double>(hi[c]));
        }
    }
};

}  // namespace

template <class T>
void batchnorm_stats(const T* x, const ChannelLayout& L, double* mean, double* var) {
    const std::size_t C = L.channels;
    const std::size_t I = L.inner;
    const double n = static_cast<double>(L.count());
    std::vector<double> acc(C, 0.0);
    if (I == 1) {
        // (N, C): walk rows, the per-feature sums side by side, so the loop runs across features
        double* a = acc.data();
        for (std::size_t o = 0; o < L.outer; ++o) {
            const T* row = x + o * C;
#pragma omp simd
            for (std::size_t c = 0; c < C; ++c) {
                a[c] += static_cast<double>(row[c]);
            }
        }
        for (std::size_t c = 0; c < C; ++c) {
            mean[c] = a[c] / n;
            a[c] = 0.0;
        }
        for (std::size_t o = 0; o < L.outer; ++o) {
            const T* row = x + o * C;
#pragma omp simd
            for (std::size_t c = 0; c < C; ++c) {
                const double d = static_cast<double>(row[c]) - mean[c];
                a[c] += d * d;
            }
        }
        for (std::size_t c = 0; c < C; ++c) {
            var[c] = a[c] / n;
        }
        return;
    }
    // pass 1: mean
    for (std::size_t o = 0; o < L.outer; ++o) {
        for (std::size_t c = 0; c < C; ++c) {
            const T* row = x + (o * C + c) * I;
            double s = 0.0;
#pragma omp simd reduction(+ : s)
            for (std::size_t i = 0; i < I; ++i) {
                s += static_cast<double>(row[i]);
            }
            acc[c] += s;
        }
    }
    for (std::size_t c = 0; c < C; ++c) {
        mean[c] = acc[c] / n;
        acc[c] = 0.0;
    }
    // pass 2: the variance of the centred values. Two passes instead of E[x^2] - E[x]^2, which
    // cancels catastrophically for data whose mean is large against its spread.
    for (std::size_t o = 0; o < L.outer; ++o) {
        for (std::size_t c = 0; c < C; ++c) {
            const T* row = x + (o * C + c) * I;
            const double m = mean[c];
            double s = 0.0;
#pragma omp simd reduction(+ : s)
            for (std::size_t i = 0; i < I; ++i) {
                const double d = static_cast<double>(row[i]) - m;
                s += d * d;
            }
            acc[c] += s;
        }
    }
    for (std::size_t c = 0; c < C; ++c) {
        var[c] = acc[c] / n;
    }
}

template <class T>
void batchnorm_normalize(const T* x, const ChannelLayout& L, const double* mean,
                         const double* inv_std, const T* gamma, const T* beta, T* y) {
    const std::size_t C = L.channels;
    const std::size_t I = L.inner;
    const CentredMean<T> m(mean, C);
    std::vector<T> scale(C);
    std::vector<T> shift(C);
    for (std::size_t c = 0; c < C; ++c) {
        scale[c] = static_cast<T>((gamma ? static_cast<double>(gamma[c]) : 1.0) * inv_std[c]);
        shift[c] = beta ? beta[c] : T(0);
    }
    for (std::size_t o = 0; o < L.outer; ++o) {
        if (I == 1) {
            const T* xr = x + o * C;
            T* yr = y + o * C;
#pragma omp simd
            for (std::size_t c = 0; c < C; ++c) {
                // centre first: x*scale + (beta - mean*scale) would cancel for large means
                yr[c] = ((xr[c] - m.hi[c]) - m.lo[c]) * scale[c] + shift[c];
            }
            continue;
        }
        for (std::size_t c = 0; c < C; ++c) {
            const T* xr = x + (o * C + c) * I;
            T* yr = y + (o * C + c) * I;
            const T hi = m.hi[c];
            const T lo = m.lo[c];
            const T a = scale[c];
            const T b = shift[c];
#pragma omp simd
            for (std::size_t i = 0; i < I; ++i) {
                yr[i] = ((xr[i] - hi) - lo) * a + b;
            }
        }
    }
}

// The closed form of the training-mode backward (N values per feature, s = 1/sqrt(sigma2 + eps)):
//
//   xhat = (x - mu) s,  y = gamma xhat + beta
//   dL/dxhat  = gamma dy
//   dL/dsigma2 = sum_i dL/dxhat_i (x_i - mu) (-1/2) s^3
//   dL/dmu    = -s sum_i dL/dxhat_i + dL/dsigma2 (-2/N) sum_i (x_i - mu)      (the last sum is 0)
//   dL/dx_i   = s dL/dxhat_i + dL/dsigma2 2 (x_i - mu)/N + dL/dmu / N
//
// and, substituting, dL/dx = gamma s / N * (N dy - sum(dy) - xhat sum(dy xhat)),
// dgamma = sum(dy xhat), dbeta = sum(dy). Written per feature as dx = c1 dy + c2 (x - mu) + c3.
// In evaluation mode mu and sigma2 are constants and dL/dx = gamma s dy.
template <class T>
void batchnorm_grads(const T* dy, const T* x, const ChannelLayout& L, const double* mean,
                     const double* inv_std, const T* gamma, bool training, T* dx, T* dgamma,
                     T* dbeta) {
    const std::size_t C = L.channels;
    const std::size_t I = L.inner;
    const double n = static_cast<double>(L.count());
    std::vector<double> sum_dy(C, 0.0);
    std::vector<double> sum_dy_xc(C, 0.0);  // sum(dy * (x - mu))
    for (std::size_t o = 0; I == 1 && o < L.outer; ++o) {
        // (N, C): the sums side by side, across features
        const T* g = dy + o * C;
        const T* xr = x + o * C;
        double* s1 = sum_dy.data();
        double* s2 = sum_dy_xc.data();
#pragma omp simd
        for (std::size_t c = 0; c < C; ++c) {
            const double gc = static_cast<double>(g[c]);
            s1[c] += gc;
            s2[c] += gc * (static_cast<double>(xr[c]) - mean[c]);
        }
    }
    for (std::size_t o = 0; I != 1 && o < L.outer; ++o) {
        for (std::size_t c = 0; c < C; ++c) {
            const std::size_t base = (o * C + c) * I;
            const double m = mean[c];
            double s1 = 0.0;
            double s2 = 0.0;
#pragma omp simd reduction(+ : s1, s2)
            for (std::size_t i = 0; i < I; ++i) {
                const double g = static_cast<double>(dy[base + i]);
                s1 += g;
                s2 += g * (static_cast<double>(x[base + i]) - m);
            }
            sum_dy[c] += s1;
            sum_dy_xc[c] += s2;
        }
    }
    std::vector<T> c1(C), c2(C), c3(C);
    for (std::size_t c = 0; c < C; ++c) {
        const double s = inv_std[c];
        const double g = gamma ? static_cast<double>(gamma[c]) : 1.0;
        const double sum_dy_xhat = sum_dy_xc[c] * s;
        if (dgamma) {
            dgamma[c] = static_cast<T>(sum_dy_xhat);
        }
        if (dbeta) {
            dbeta[c] = static_cast<T>(sum_dy[c]);
        }
        c1[c] = static_cast<T>(g * s);
        c2[c] = training ? static_cast<T>(-g * s * s * sum_dy_xhat / n) : T(0);
        c3[c] = training ? static_cast<T>(-g * s * sum_dy[c] / n) : T(0);
    }
    if (!dx) {
        return;
    }
    const CentredMean<T> m(mean, C);
    for (std::size_t o = 0; I == 1 && o < L.outer; ++o) {
        const T* g = dy + o * C;
        const T* xr = x + o * C;
        T* d = dx + o * C;
#pragma omp simd
        for (std::size_t c = 0; c < C; ++c) {
            d[c] = c1[c] * g[c] + c2[c] * ((xr[c] - m.hi[c]) - m.lo[c]) + c3[c];
        }
    }
    for (std::size_t o = 0; I != 1 && o < L.outer; ++o) {
        for (std::size_t c = 0; c < C; ++c) {
            const std::size_t base = (o * C + c) * I;
            const T hi = m.hi[c];
            const T lo = m.lo[c];
            const T a = c1[c];
            const T b = c2[c];
            const T d = c3[c];
#pragma omp simd
            for (std::size_t i = 0; i < I; ++i) {
                dx[base + i] = a * dy[base + i] + b * ((x[base + i] - hi) - lo) + d;
            }
        }
    }
}

Array<double> batchnorm_inv_std(const Array<double>& var, double eps) {
    Array<double> s = xt::empty<double>(var.shape());
    for (std::size_t c = 0; c < var.size(); ++c) {
        s.data()[c] = 1.0 / std::sqrt(var.data()[c] + eps);
    }
    return s;
}

void check_per_feature(const char* op, const char* what, const Shape& shape, const ChannelLayout& L) {
    if (shape != L.stat_shape) {
        throw ShapeError(fmt::format("{}: {} must have one value per feature; expected shape {}, got {}", op, what,
                                     shape_str(L.stat_shape), shape_str(shape)));
    }
}

namespace {

// Normalises x with the cache's statistics (mean and var already set) and completes the cache.
template <class T>
Array<T> normalize_with(BatchNormCache<T>& cache, const ChannelLayout& L, const Array<T>& beta, double eps) {
    cache.inv_std = batchnorm_inv_std(cache.var, eps);
    Array<T> y = xt::empty<T>(cache.x.shape());
    batchnorm_normalize(cache.x.data(), L, cache.mean.data(), cache.inv_std.data(), cache.gamma.data(), beta.data(),
                        y.data());
    return y;
}

template <class T>
BatchNormCache<T> start_cache(const char* op, const Array<T>& x, const Array<T>& gamma, const Array<T>& beta,
                              const Axes& axes, bool training, ChannelLayout& L) {
    L = channel_layout(op, to_shape(x.shape()), axes);
    check_per_feature(op, "gamma", to_shape(gamma.shape()), L);
    check_per_feature(op, "beta", to_shape(beta.shape()), L);
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
    cache.mean = xt::empty<double>(L.stat_shape);
    cache.var = xt::empty<double>(L.stat_shape);
    batchnorm_stats(x.data(), L, cache.mean.data(), cache.var.data());
    Array<T> y = normalize_with(cache, L, beta, eps);
    return {std::move(y), std::move(cache)};
}

template <class T>
std::pair<Array<T>, BatchNormCache<T>> batchnorm_forward_eval(
    const Array<T>& x, const Array<T>& gamma, const Array<T>& beta, const Array<T>& running_mean,
    const Array<T>& running_var, const Axes& axes, double eps) {
    ChannelLayout L;
    BatchNormCache<T> cache = start_cache("batchnorm_forward_eval", x, gamma, beta, axes, false, L);
    check_per_feature("batchnorm_forward_eval", "running_mean", to_shape(running_mean.shape()), L);
    check_per_feature("batchnorm_forward_eval", "running_var", to_shape(running_var.shape()), L);
    cache.mean = xt::cast<double>(running_mean);
    cache.var = xt::cast<double>(running_var);
    Array<T> y = normalize_with(cache, L, beta, eps);
    return {std::move(y), std::move(cache)};
}

template <class T>
BatchNormGrads<T> batchnorm_backward(const Array<T>& dy, const BatchNormCache<T>& cache) {
    const Shape shape = to_shape(cache.x.shape());
    if (to_shape(dy.shape()) != shape) {
        throw ShapeError(fmt::format(
            "batchnorm_backward: dy must have the input's shape; expected {}, got {}",
            shape_str(shape), shape_str(to_shape(dy.shape()))));
    }
    const ChannelLayout L = channel_layout("batchnorm_backward", shape, cache.axes);
    BatchNormGrads<T> g;
    g.dx = xt::empty<T>(shape);
    g.dgamma = xt::empty<T>(L.stat_shape);
    g.dbeta = xt::empty<T>(L.stat_shape);
    batchnorm_grads(dy.data(), cache.x.data(), L, cache.mean.data(), cache.inv_std.data(),
                    cache.gamma.data(), cache.training, g.dx.data(), g.dgamma.data(),
                    g.dbeta.data());
    return g;
}

template <class T>
BatchNormStages<T> batchnorm_backward_stages(const Array<T>& dy, const BatchNormCache<T>& cache) {
    const Shape shape = to_shape(cache.x.shape());
    const ChannelLayout L = channel_layout("batchnorm_backward_stages", shape, cache.axes);
    const std::size_t C = L.channels;
    const std::size_t I = L.inner;
    const double n = static_cast<double>(L.count());
    BatchNormStages<T> s;
    s.dxhat = xt::empty<T>(shape);
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
    s.dsigma2 = xt::empty<T>(L.stat_shape);
    s.dmu = xt::empty<T>(L.stat_shape);
    for (std::size_t c = 0; c < C; ++c) {
        const double inv = cache.inv_std.data()[c];
        const double ds2 = dsigma2[c] * -0.5 * inv * inv * inv;
        s.dsigma2.data()[c] = static_cast<T>(ds2);
        s.dmu.data()[c] = static_cast<T>(-sum_dxhat[c] * inv + ds2 * -2.0 * sum_xc[c] / n);
    }
    return s;
}

#define TG_INSTANTIATE(T)                                                                          \
    template void batchnorm_stats(const T*, const ChannelLayout&, double*, double*);               \
    template void batchnorm_normalize(const T*, const ChannelLayout&, const double*,               \
                                      const double*, const T*, const T*, T*);                      \
    template void batchnorm_grads(const T*, const T*, const ChannelLayout&, const double*,         \
                                  const double*, const T*, bool, T*, T*, T*);                      \
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
