#include "ops/batchnorm_kernels.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/parallel.hpp"

namespace tg {

// Note: the element (o, c, i) of x viewed as (outer, channels, inner) is at (o*C + c)*inner + i.
// Rows are walked in memory order and per-feature sums kept in double (the float32 backward forms
// four rows' terms in float32 first, see batchnorm_grads), so the loops stream through x once per
// pass whatever the layout. Above a few tens of thousands of values the rows are shared among
// threads (core/parallel.hpp); each thread sums into its own partial sums, added in thread order
// afterwards, so a result does not depend on which thread finished first.

namespace {

// ---- per-feature coefficients of the two element-wise passes, computed once in float64 ----------

// x - mean in T without losing the low bits of a float64 mean: mean = hi + lo with hi = T(mean)
// and lo = T(mean - hi). For x near the mean, x - hi is exact (Sterbenz) and lo corrects it, so
// float32 loops stay float32 and still centre data with a large mean correctly. The tiny lo term
// is folded into the pass's constant term.
template <class T>
T mean_hi(double mean) {
    return static_cast<T>(mean);
}

template <class T>
double mean_lo(double mean) {
    return static_cast<double>(static_cast<T>(mean - static_cast<double>(static_cast<T>(mean))));
}

// y = (x - hi) * scale + shift, which is (x - mean) * gamma * inv_std + beta. Centring first
// matters: x * scale + (beta - mean * scale) would cancel for large means.
template <class T>
struct Normalize {
    T hi, scale, shift;
};

template <class T>
Normalize<T> normalize_coefficients(double mean, double inv_std, const T* gamma, const T* beta, std::size_t c) {
    const double a = (gamma ? static_cast<double>(gamma[c]) : 1.0) * inv_std;
    const double b = beta ? static_cast<double>(beta[c]) : 0.0;
    return {mean_hi<T>(mean), static_cast<T>(a), static_cast<T>(b - mean_lo<T>(mean) * a)};
}

// dx = c1 dy + c2 (x - hi) + c3 from the per-feature sums sum(dy) and sum(dy (x - mean)) over n
// values (the closed form derived at batchnorm_grads below); also dgamma and dbeta, each written
// if its pointer is not null.
template <class T>
struct Backward {
    T hi, c1, c2, c3;
};

template <class T>
Backward<T> backward_coefficients(double mean, double inv_std, const T* gamma, std::size_t c, double sum_dy,
                                  double sum_dy_xc, double n, bool training, T* dgamma, T* dbeta) {
    const double s = inv_std;
    const double g = gamma ? static_cast<double>(gamma[c]) : 1.0;
    const double sum_dy_xhat = sum_dy_xc * s;
    if (dgamma) {
        dgamma[c] = static_cast<T>(sum_dy_xhat);
    }
    if (dbeta) {
        dbeta[c] = static_cast<T>(sum_dy);
    }
    const double k2 = training ? -g * s * s * sum_dy_xhat / n : 0.0;
    const double k3 = training ? -g * s * sum_dy / n : 0.0;
    return {mean_hi<T>(mean), static_cast<T>(g * s), static_cast<T>(k2), static_cast<T>(k3 - k2 * mean_lo<T>(mean))};
}

// Rows are taken in blocks of this many: for the (N, C) layout in float32 one sweep across the
// features handles four rows at once, so the per-feature sums and coefficients are loaded (and
// the sums stored) once per four rows instead of once per row. float64 keeps one row per sweep,
// where four were slower (bench/DESIGN.md has the figures).
constexpr std::size_t rows_per_sweep = 4;
template <class T>
constexpr bool four_rows = std::is_same_v<T, float>;

// acc[0, width) += the sums add_rows(begin, end, partial) makes over the blocks of rows
// [begin, end) that tile [0, rows).
template <class F>
void sum_rows(std::size_t rows, std::size_t width, std::size_t work, double* acc, F&& add_rows) {
    const std::size_t blocks = (rows + rows_per_sweep - 1) / rows_per_sweep;
    const bool parallel = worth_sharing(work);
    // one thread: straight into acc, no partial sums
    std::vector<std::vector<double>> partials(parallel ? static_cast<std::size_t>(omp_get_max_threads()) : 0,
                                              std::vector<double>(width, 0.0));
    for_ranges(blocks, parallel, [&](std::size_t first, std::size_t last) {
        double* part = parallel ? partials[static_cast<std::size_t>(omp_get_thread_num())].data() : acc;
        for (std::size_t b = first; b < last; ++b) {
            add_rows(b * rows_per_sweep, std::min(rows, (b + 1) * rows_per_sweep), part);
        }
    });
    for (const auto& part : partials) {
        for (std::size_t c = 0; c < width; ++c) {
            acc[c] += part[c];
        }
    }
}

// f(begin, end) over the blocks of rows_per_sweep rows that tile [0, rows), the blocks shared
// among threads above the threshold: the element-wise passes, which write disjoint rows.
template <class F>
void for_row_blocks(std::size_t rows, std::size_t work, F&& f) {
    const std::size_t blocks = (rows + rows_per_sweep - 1) / rows_per_sweep;
    for_ranges(blocks, worth_sharing(work), [&](std::size_t first, std::size_t last) {
        for (std::size_t b = first; b < last; ++b) {
            f(b * rows_per_sweep, std::min(rows, (b + 1) * rows_per_sweep));
        }
    });
}

}  // namespace

template <class T>
void batchnorm_stats(const T* x, const ChannelLayout& L, double* mean, double* var) {
    const std::size_t C = L.channels;
    const std::size_t I = L.inner;
    const double n = static_cast<double>(L.count());
    // One pass over x: the sums of x - k and (x - k)^2, shifted by k = the feature's first value,
    // in double. Never the plain E[x^2] - E[x]^2, which cancels catastrophically when the mean is
    // large against the spread: with the shift, what cancels is only (mean - k)^2 against the
    // variance, and k is a sample of the data, a few standard deviations from the mean at most
    // for all but pathological data (and double's 16 digits absorb even a 1000-sigma outlier).
    std::vector<double> shift(C);
    for (std::size_t c = 0; c < C; ++c) {
        shift[c] = static_cast<double>(x[c * I]);
    }
    const double* k = shift.data();
    std::vector<double> sums(2 * C, 0.0);  // sums[c] = sum(x - k), sums[C + c] = sum((x - k)^2)
    sum_rows(L.outer, 2 * C, L.outer * C * I, sums.data(), [&](std::size_t begin, std::size_t end, double* acc) {
        double* s1 = acc;
        double* s2 = acc + C;
        if (four_rows<T> && I == 1 && end - begin == rows_per_sweep) {  // (N, C): four rows per sweep across the features
            const T* r0 = x + begin * C;
            const T* r1 = r0 + C;
            const T* r2 = r1 + C;
            const T* r3 = r2 + C;
#pragma omp simd
            for (std::size_t c = 0; c < C; ++c) {
                const double d0 = static_cast<double>(r0[c]) - k[c];
                const double d1 = static_cast<double>(r1[c]) - k[c];
                const double d2 = static_cast<double>(r2[c]) - k[c];
                const double d3 = static_cast<double>(r3[c]) - k[c];
                s1[c] += (d0 + d1) + (d2 + d3);
                s2[c] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3);
            }
            return;
        }
        for (std::size_t o = begin; o < end; ++o) {
            if (I == 1) {
                const T* row = x + o * C;
#pragma omp simd
                for (std::size_t c = 0; c < C; ++c) {
                    const double d = static_cast<double>(row[c]) - k[c];
                    s1[c] += d;
                    s2[c] += d * d;
                }
                continue;
            }
            for (std::size_t c = 0; c < C; ++c) {
                const T* row = x + (o * C + c) * I;
                const double kc = k[c];
                double a1 = 0.0;
                double a2 = 0.0;
#pragma omp simd reduction(+ : a1, a2)
                for (std::size_t i = 0; i < I; ++i) {
                    const double d = static_cast<double>(row[i]) - kc;
                    a1 += d;
                    a2 += d * d;
                }
                s1[c] += a1;
                s2[c] += a2;
            }
        }
    });
    for (std::size_t c = 0; c < C; ++c) {
        const double m = sums[c] / n;  // mean - k
        mean[c] = k[c] + m;
        var[c] = std::max(0.0, sums[C + c] / n - m * m);
    }
}

template <class T>
void batchnorm_normalize(const T* x, const ChannelLayout& L, const double* mean,
                         const double* inv_std, const T* gamma, const T* beta, T* y) {
    const std::size_t C = L.channels;
    const std::size_t I = L.inner;
    std::vector<T> hi_(C), scale(C), shift(C);
    for (std::size_t c = 0; c < C; ++c) {
        const Normalize<T> k = normalize_coefficients(mean[c], inv_std[c], gamma, beta, c);
        hi_[c] = k.hi;
        scale[c] = k.scale;
        shift[c] = k.shift;
    }
    const T* hi = hi_.data();
    const T* a = scale.data();
    const T* b = shift.data();
    for_row_blocks(L.outer, L.outer * C * I, [&](std::size_t begin, std::size_t end) {
        if (four_rows<T> && I == 1 && end - begin == rows_per_sweep) {  // (N, C): four rows per sweep, coefficients loaded once
            const T* x0 = x + begin * C;
            T* y0 = y + begin * C;
#pragma omp simd
            for (std::size_t c = 0; c < C; ++c) {
                const T h = hi[c], s = a[c], t = b[c];
                y0[c] = (x0[c] - h) * s + t;
                y0[C + c] = (x0[C + c] - h) * s + t;
                y0[2 * C + c] = (x0[2 * C + c] - h) * s + t;
                y0[3 * C + c] = (x0[3 * C + c] - h) * s + t;
            }
            return;
        }
        for (std::size_t o = begin; o < end; ++o) {
            if (I == 1) {
                const T* xr = x + o * C;
                T* yr = y + o * C;
#pragma omp simd
                for (std::size_t c = 0; c < C; ++c) {
                    yr[c] = (xr[c] - hi[c]) * a[c] + b[c];
                }
                continue;
            }
            for (std::size_t c = 0; c < C; ++c) {
                const T* xr = x + (o * C + c) * I;
                T* yr = y + (o * C + c) * I;
                const T h = hi[c], sc = a[c], t = b[c];
#pragma omp simd
                for (std::size_t i = 0; i < I; ++i) {
                    yr[i] = (xr[i] - h) * sc + t;
                }
            }
        }
    });
}

template <class T>
void batchnorm_train_forward(const T* x, const ChannelLayout& L, const T* gamma, const T* beta, double eps,
                             double* mean, double* var, double* inv_std, T* y) {
    batchnorm_stats(x, L, mean, var);
    for (std::size_t c = 0; c < L.channels; ++c) {
        inv_std[c] = 1.0 / std::sqrt(var[c] + eps);
    }
    batchnorm_normalize(x, L, mean, inv_std, gamma, beta, y);
}

// The closed form derived beside batchnorm_backward_reference (ops/batchnorm.cpp), written per
// feature as dx = c1 dy + c2 (x - mu) + c3.
template <class T>
void batchnorm_grads(const T* dy, const T* x, const ChannelLayout& L, const double* mean,
                     const double* inv_std, const T* gamma, bool training, T* dx, T* dgamma,
                     T* dbeta) {
    const std::size_t C = L.channels;
    const std::size_t I = L.inner;
    const std::size_t work = L.outer * C * I;
    const double n = static_cast<double>(L.count());
    // sums[c] = sum(dy), sums[C + c] = sum(dy * (x - mu)), in one pass
    std::vector<double> sums(2 * C, 0.0);
    std::vector<T> hi_(C);
    std::vector<double> lo(C);
    for (std::size_t c = 0; c < C; ++c) {
        hi_[c] = mean_hi<T>(mean[c]);
        lo[c] = mean[c] - static_cast<double>(hi_[c]);
    }
    sum_rows(L.outer, 2 * C, work, sums.data(), [&](std::size_t begin, std::size_t end, double* acc) {
        double* s1 = acc;
        double* s2 = acc + C;
        if (four_rows<T> && I == 1 && end - begin == rows_per_sweep) {  // (N, C): four rows per sweep
            // The four rows' terms are formed and added in float32 and only their sums carried in
            // float64: an error of a few float32 roundings in sum(dy) or sum(dy (x - mu)) moves dx
            // by that relative to gamma/std * |dy|, below float32's own resolution of dx. (The
            // forward statistics keep every term in float64: the variance cancels.)
            // sum dy (x - mu) = sum dy (x - hi) - lo sum dy.
            const T* g0 = dy + begin * C;
            const T* x0 = x + begin * C;
            const T* h = hi_.data();
#pragma omp simd
            for (std::size_t c = 0; c < C; ++c) {
                const T e0 = g0[c], e1 = g0[C + c], e2 = g0[2 * C + c], e3 = g0[3 * C + c];
                const T q = (e0 + e1) + (e2 + e3);
                const T p = (e0 * (x0[c] - h[c]) + e1 * (x0[C + c] - h[c])) +
                            (e2 * (x0[2 * C + c] - h[c]) + e3 * (x0[3 * C + c] - h[c]));
                s1[c] += static_cast<double>(q);
                s2[c] += static_cast<double>(p) - lo[c] * static_cast<double>(q);
            }
            return;
        }
        for (std::size_t o = begin; o < end; ++o) {
            if (I == 1) {
                const T* g = dy + o * C;
                const T* xr = x + o * C;
#pragma omp simd
                for (std::size_t c = 0; c < C; ++c) {
                    const double gc = static_cast<double>(g[c]);
                    s1[c] += gc;
                    s2[c] += gc * (static_cast<double>(xr[c]) - mean[c]);
                }
                continue;
            }
            for (std::size_t c = 0; c < C; ++c) {
                const std::size_t base = (o * C + c) * I;
                const double m = mean[c];
                double a1 = 0.0;
                double a2 = 0.0;
#pragma omp simd reduction(+ : a1, a2)
                for (std::size_t i = 0; i < I; ++i) {
                    const double g = static_cast<double>(dy[base + i]);
                    a1 += g;
                    a2 += g * (static_cast<double>(x[base + i]) - m);
                }
                s1[c] += a1;
                s2[c] += a2;
            }
        }
    });
    // dx = c1 dy + c2 (x - hi) + c3
    std::vector<T> c1(C), c2(C), c3(C);
    for (std::size_t c = 0; c < C; ++c) {
        const Backward<T> k =
            backward_coefficients(mean[c], inv_std[c], gamma, c, sums[c], sums[C + c], n, training, dgamma, dbeta);
        c1[c] = k.c1;
        c2[c] = k.c2;
        c3[c] = k.c3;
    }
    if (!dx) {
        return;
    }
    const T* hi = hi_.data();
    const T* k1 = c1.data();
    const T* k2 = c2.data();
    const T* k3 = c3.data();
    for_row_blocks(L.outer, work, [&](std::size_t begin, std::size_t end) {
        if (four_rows<T> && I == 1 && end - begin == rows_per_sweep) {  // (N, C): four rows per sweep, coefficients loaded once
            const T* g0 = dy + begin * C;
            const T* x0 = x + begin * C;
            T* d0 = dx + begin * C;
#pragma omp simd
            for (std::size_t c = 0; c < C; ++c) {
                const T h = hi[c], a = k1[c], b = k2[c], e = k3[c];
                d0[c] = a * g0[c] + b * (x0[c] - h) + e;
                d0[C + c] = a * g0[C + c] + b * (x0[C + c] - h) + e;
                d0[2 * C + c] = a * g0[2 * C + c] + b * (x0[2 * C + c] - h) + e;
                d0[3 * C + c] = a * g0[3 * C + c] + b * (x0[3 * C + c] - h) + e;
            }
            return;
        }
        for (std::size_t o = begin; o < end; ++o) {
            if (I == 1) {
                const T* g = dy + o * C;
                const T* xr = x + o * C;
                T* d = dx + o * C;
#pragma omp simd
                for (std::size_t c = 0; c < C; ++c) {
                    d[c] = k1[c] * g[c] + k2[c] * (xr[c] - hi[c]) + k3[c];
                }
                continue;
            }
            for (std::size_t c = 0; c < C; ++c) {
                const std::size_t base = (o * C + c) * I;
                const T h = hi[c], a = k1[c], b = k2[c], e = k3[c];
#pragma omp simd
                for (std::size_t i = 0; i < I; ++i) {
                    dx[base + i] = a * dy[base + i] + b * (x[base + i] - h) + e;
                }
            }
        }
    });
}

Array<double> batchnorm_inv_std(const Array<double>& var, double eps) {
    Array<double> s = tg::empty<double>(var.shape());
    for (std::size_t c = 0; c < var.size(); ++c) {
        s.data()[c] = 1.0 / std::sqrt(var.data()[c] + eps);
    }
    return s;
}

#define TG_INSTANTIATE(T)                                                                          \
    template void batchnorm_stats(const T*, const ChannelLayout&, double*, double*);               \
    template void batchnorm_normalize(const T*, const ChannelLayout&, const double*,               \
                                      const double*, const T*, const T*, T*);                      \
    template void batchnorm_train_forward(const T*, const ChannelLayout&, const T*, const T*, double, \
                                          double*, double*, double*, T*);                          \
    template void batchnorm_grads(const T*, const T*, const ChannelLayout&, const double*,         \
                                  const double*, const T*, bool, T*, T*, T*);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg
