#include "ops/norm_kernels.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/parallel.hpp"
#include "core/prefetch.hpp"

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace tg {

// Note: the element (o, c, i) of x viewed as (outer, channels, inner) is at (o*C + c)*inner + i.
// Across the batch, rows are walked in memory order and each channel's sums gathered as they pass;
// per sample, a set is contiguous and is finished (forward: statistics then y; backward: sums then
// dx) while it is still in cache. float32 terms are formed and summed in float32 over short runs
// (four rows, `run<T>` values, or the dgamma and dbeta terms of up to `float_sets` short sets), and
// only the runs' sums carried in float64: the error is a few
// float32 roundings of each term, below float32's own resolution of the results. float64 sums
// every term in float64 as it comes.

namespace {

// ---- the derivation's terms, per set ----------------------------------------------------------

// The mean as T can use it: mean = hi + lo with hi = T(mean) and lo the rest as far as T holds it.
// For x near the mean, x - hi is exact (Sterbenz) and subtracting lo corrects it, so float32 loops
// stay float32 and still centre data whose mean is large against its spread.
template <class T>
struct Centre {
    T hi;
    double lo;
};

template <class T>
Centre<T> centre_of(double mean) {
    const T hi = static_cast<T>(mean);
    return {hi, static_cast<double>(static_cast<T>(mean - static_cast<double>(hi)))};
}

// y = (x - hi) * scale + shift, which is (x - mean) * gamma * inv_std + beta for a gamma and beta
// common to the values. Centring first matters: x * scale + (beta - mean * scale) would cancel.
template <class T>
struct Affine {
    T hi, scale, shift;
};

template <class T>
Affine<T> affine_terms(double mean, double inv_std, double gamma, double beta) {
    const Centre<T> m = centre_of<T>(mean);
    const double scale = gamma * inv_std;
    return {m.hi, static_cast<T>(scale), static_cast<T>(beta - m.lo * scale)};
}

// The closed form's three paths into dL/dx_i (ops/norm.cpp), per set of N values:
//   dL/dx_i = via_xhat dL/dxhat_i + via_sigma2 (x_i - mean) + via_mu
// with via_xhat = inv_std, via_sigma2 = dL/dsigma2 * 2/N and via_mu = dL/dmu / N, where
//   dL/dsigma2 = -1/2 inv_std^3 sum(dL/dxhat (x - mean)) = -1/2 inv_std^2 sum(dL/dxhat xhat)
//   dL/dmu     = -inv_std sum(dL/dxhat)    (its other term has sum(x - mean) = 0).
// `gamma` is a factor common to the set (batch norm's per-channel gamma: dL/dxhat = gamma dy, and
// the sums are of dy), or 1 where gamma varies within the set and is already inside the sums.
// Written so, via_xhat multiplies dy directly in the first case. With constant statistics
// (evaluation mode) only the first path exists.
struct DxTerms {
    double via_xhat, via_sigma2, via_mu;
};

DxTerms dx_terms(double inv_std, double gamma, double sum_dy, double sum_dy_xhat, double n, bool training) {
    const double s = inv_std;
    if (!training) {
        return {gamma * s, 0.0, 0.0};
    }
    return {gamma * s, -gamma * s * s * sum_dy_xhat / n, -gamma * s * sum_dy / n};
}

// dx = via_xhat' dy + via_sigma2 (x - hi) + via_mu', in T: the mean's low part folded into the
// constant term.
template <class T>
struct DxCoefficients {
    T hi, dy, xc, constant;
};

template <class T>
DxCoefficients<T> dx_coefficients(const DxTerms& t, const Centre<T>& m, double dy_factor) {
    return {m.hi, static_cast<T>(t.via_xhat * dy_factor), static_cast<T>(t.via_sigma2),
            static_cast<T>(t.via_mu - t.via_sigma2 * m.lo)};
}

// ---- results written once: y and dx --------------------------------------------------------

// A y or dx of at least this size is stored around the caches (non-temporal stores): written once and
// read by the next op long after, it then costs no read of the destination's old contents into
// the cache first. Float32 batch norm 65536 x 64 (16 MiB per array), one thread: 12.3-13.1 ms with
// ordinary stores, 11.3-11.8 ms with y streamed, 7.9-8.8 ms with y and dx streamed (libtorch
// 11.7-11.8); 1024 x 1024 (4 MiB) 0.95-0.99 x libtorch without, 0.74-0.79 with.
constexpr std::size_t stream_from_bytes = std::size_t{4} << 20;
// Values are made in a staging chunk this long (16 KiB of float32, in L1) and streamed from there,
// so that the loops that make them stay as they are.
constexpr std::size_t stream_chunk = 4096;

template <class T>
bool worth_streaming(std::size_t values) {
    return values * sizeof(T) >= stream_from_bytes;
}

// dst[0, n) = src[0, n) with non-temporal stores where dst is aligned for them.
template <class T>
void stream_copy(T* dst, const T* src, std::size_t n) {
#if defined(__AVX__)
    constexpr std::size_t lanes = 32 / sizeof(T);
    std::size_t i = 0;
    for (; i < n && reinterpret_cast<std::uintptr_t>(dst + i) % 32 != 0; ++i) {
        dst[i] = src[i];
    }
    for (; i + lanes <= n; i += lanes) {
        if constexpr (std::is_same_v<T, float>) {
            _mm256_stream_ps(dst + i, _mm256_loadu_ps(src + i));
        } else {
            _mm256_stream_pd(dst + i, _mm256_loadu_pd(src + i));
        }
    }
    for (; i < n; ++i) {
        dst[i] = src[i];
    }
#else
    std::copy(src, src + n, dst);
#endif
}

// Per sample, the sets made before their values are streamed out: about 4 KiB of them (at least
// one set; a set longer than stream_chunk is written in place). Layer norm 65536 x 64, one thread:
// one set per copy 0.94-0.99 x libtorch in float32, 64 sets (16 KiB) 0.98-1.01 in float32 and
// 1.0-1.13 in float64 (the chunk crowds x out of L1), 4 KiB 0.84-0.87 and 0.86-0.92.
template <class T>
std::size_t sets_per_chunk(std::size_t n) {
    return std::max<std::size_t>(1, (std::size_t{4096} / sizeof(T)) / std::max<std::size_t>(n, 1));
}

// Per sample, float32 sets of at most 512 values: how many sets' dgamma and dbeta terms are summed
// in float32 before they go into the float64 partials (layer norm f32 65536 x 64: 9.1 against
// 10.2 ms with every term added in float64).
constexpr std::size_t float_sets = 16;

// Per sample, short sets of a large input: how many sets ahead the loops ask for x (and dy), about
// 2 KiB ahead; 0 where they do not. Layer norm 65536 x 64 (rows of 256 or 512 bytes), one thread:
// 0.89-0.93 x libtorch in float32 and 0.96-0.97 in float64 without, 0.67-0.69 and 0.73-0.76 with
// (8 and 4 sets ahead); 4 KiB ahead was as good in float32 and worse in float64 (0.75-0.81). Sets
// of 1024 values, which the hardware's own prefetching follows, lost with it (f32 1024 x 1024
// 0.75 -> 0.84-0.89), so sets longer than 1 KiB are not prefetched.
template <class T>
std::size_t sets_ahead(std::size_t n, std::size_t sets) {
    const std::size_t bytes = n * sizeof(T);
    if (bytes == 0 || bytes > 1024 || !worth_streaming<T>(n * sets)) {
        return 0;
    }
    return std::max<std::size_t>(1, 2048 / bytes);
}

// Streamed stores are weakly ordered: each thread that made some ends its share with this, so
// that they are seen, by every thread, before what follows (once per share: a fence per chunk of
// 64 values made layer norm 65536 x 64 three times slower).
inline void stream_fence() {
#if defined(__AVX__)
    _mm_sfence();
#endif
}

// fill(out) writes the n values meant for dst: into dst itself, or, when `stream` and they fit,
// into the staging chunk, streamed to dst from there. Either way the values are the same.
template <class T, class F>
void write_out(bool stream, T* dst, std::size_t n, F&& fill) {
    if (!stream || n > stream_chunk) {
        fill(dst);
        return;
    }
    alignas(64) T staged[stream_chunk];
    fill(staged);
    stream_copy(dst, staged, n);
}

// ---- across the batch (batch norm): one set per channel, sums gathered row by row -------------

// Rows are taken in blocks of this many: for the (N, C) layout in float32 one sweep across the
// channels handles four rows at once, so the per-channel sums and coefficients are loaded (and
// the sums stored) once per four rows instead of once per row. float64 keeps one row per sweep,
// where four were slower (bench/DESIGN.md has the figures).
constexpr std::size_t rows_per_sweep = 4;
template <class T>
constexpr bool four_rows = std::is_same_v<T, float>;

// float32 values summed in float32 before the sum goes into float64: this many at a time.
template <class T>
constexpr std::size_t run = std::is_same_v<T, float> ? 256 : std::numeric_limits<std::size_t>::max();

// acc[0, width) += the sums add_rows(begin, end, partial) makes over the blocks of rows
// [begin, end) that tile [0, rows).
template <class F>
void sum_row_blocks(std::size_t rows, std::size_t width, std::size_t work, double* acc, F&& add_rows) {
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
        stream_fence();
    });
}

// a1 += sum(p(i)), a2 += sum(q(i)) over [0, n), in runs of run<T> values summed in T.
// p and q capture what they read by value: through a reference, GCC 12 reloads the pointer for
// every lane and vectorises the loop as gathers (layer norm float64's statistics ran 1.5x slower).
template <class T, class P, class Q>
void add_sums(std::size_t n, double& a1, double& a2, P&& p, Q&& q) {
    for (std::size_t start = 0; start < n; start += std::min(n - start, run<T>)) {
        const std::size_t end = start + std::min(n - start, run<T>);
        T r1 = 0;
        T r2 = 0;
#pragma omp simd reduction(+ : r1, r2)
        for (std::size_t i = start; i < end; ++i) {
            r1 += p(i);
            r2 += q(i);
        }
        a1 += static_cast<double>(r1);
        a2 += static_cast<double>(r2);
    }
}

template <class T>
void batch_stats(const T* x, const NormLayout& L, double* mean, double* var) {
    const std::size_t C = L.channels;
    const std::size_t I = L.inner;
    const double n = static_cast<double>(L.count());
    // One pass over x: the sums of x - k and (x - k)^2, shifted by k = the channel's first value,
    // every term in float64 (float32 too: the variance cancels, and its error is y's). Never the
    // plain E[x^2] - E[x]^2, which cancels catastrophically when the mean is large against the
    // spread: with the shift, what cancels is only (mean - k)^2 against the variance, and k is a
    // sample of the data, a few standard deviations from the mean at most for all but pathological
    // data (and float64's 16 digits absorb even a 1000-sigma outlier).
    std::vector<double> shift(C);
    for (std::size_t c = 0; c < C; ++c) {
        shift[c] = static_cast<double>(x[c * I]);
    }
    const double* k = shift.data();
    std::vector<double> sums(2 * C, 0.0);  // sums[c] = sum(x - k), sums[C + c] = sum((x - k)^2)
    sum_row_blocks(L.outer, 2 * C, L.outer * C * I, sums.data(), [&](std::size_t begin, std::size_t end, double* acc) {
        double* s1 = acc;
        double* s2 = acc + C;
        if (four_rows<T> && I == 1 && end - begin == rows_per_sweep) {  // (N, C): four rows per sweep
            const T* r0 = x + begin * C;
#pragma omp simd
            for (std::size_t c = 0; c < C; ++c) {
                const double d0 = static_cast<double>(r0[c]) - k[c];
                const double d1 = static_cast<double>(r0[C + c]) - k[c];
                const double d2 = static_cast<double>(r0[2 * C + c]) - k[c];
                const double d3 = static_cast<double>(r0[3 * C + c]) - k[c];
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
void batch_apply(const T* x, const NormLayout& L, const double* mean, const double* inv_std, const T* gamma,
                 const T* beta, T* y) {
    const std::size_t C = L.channels;
    const std::size_t I = L.inner;
    std::vector<T> hi_(C), scale(C), shift(C);
    for (std::size_t c = 0; c < C; ++c) {
        const Affine<T> k = affine_terms<T>(mean[c], inv_std[c], gamma ? static_cast<double>(gamma[c]) : 1.0,
                                            beta ? static_cast<double>(beta[c]) : 0.0);
        hi_[c] = k.hi;
        scale[c] = k.scale;
        shift[c] = k.shift;
    }
    const T* hi = hi_.data();
    const T* a = scale.data();
    const T* b = shift.data();
    const bool stream = worth_streaming<T>(L.outer * C * I);
    for_row_blocks(L.outer, L.outer * C * I, [&](std::size_t begin, std::size_t end) {
        if (four_rows<T> && I == 1 && end - begin == rows_per_sweep) {  // coefficients loaded once per four rows
            const T* x0 = x + begin * C;
            write_out(stream, y + begin * C, rows_per_sweep * C, [&](T* y0) {
#pragma omp simd
                for (std::size_t c = 0; c < C; ++c) {
                    const T h = hi[c], s = a[c], t = b[c];
                    y0[c] = (x0[c] - h) * s + t;
                    y0[C + c] = (x0[C + c] - h) * s + t;
                    y0[2 * C + c] = (x0[2 * C + c] - h) * s + t;
                    y0[3 * C + c] = (x0[3 * C + c] - h) * s + t;
                }
            });
            return;
        }
        for (std::size_t o = begin; o < end; ++o) {
            if (I == 1) {
                const T* xr = x + o * C;
                write_out(stream, y + o * C, C, [&](T* yr) {
#pragma omp simd
                    for (std::size_t c = 0; c < C; ++c) {
                        yr[c] = (xr[c] - hi[c]) * a[c] + b[c];
                    }
                });
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
void batch_backward(const T* dy, const T* x, const NormLayout& L, const double* mean, const double* inv_std,
                    const T* gamma, bool training, T* dx, T* dgamma, T* dbeta) {
    const std::size_t C = L.channels;
    const std::size_t I = L.inner;
    const std::size_t work = L.outer * C * I;
    const double n = static_cast<double>(L.count());
    std::vector<Centre<T>> centre(C);
    std::vector<T> hi_(C);
    for (std::size_t c = 0; c < C; ++c) {
        centre[c] = centre_of<T>(mean[c]);
        hi_[c] = centre[c].hi;
    }
    const T* h = hi_.data();
    // sums[c] = sum(dy), sums[C + c] = sum(dy (x - hi)), in one pass
    std::vector<double> sums(2 * C, 0.0);
    sum_row_blocks(L.outer, 2 * C, work, sums.data(), [&](std::size_t begin, std::size_t end, double* acc) {
        double* s1 = acc;
        double* s2 = acc + C;
        if (four_rows<T> && I == 1 && end - begin == rows_per_sweep) {  // (N, C): four rows per sweep
            const T* g0 = dy + begin * C;
            const T* x0 = x + begin * C;
#pragma omp simd
            for (std::size_t c = 0; c < C; ++c) {
                const T e0 = g0[c], e1 = g0[C + c], e2 = g0[2 * C + c], e3 = g0[3 * C + c];
                s1[c] += static_cast<double>((e0 + e1) + (e2 + e3));
                s2[c] += static_cast<double>((e0 * (x0[c] - h[c]) + e1 * (x0[C + c] - h[c])) +
                                             (e2 * (x0[2 * C + c] - h[c]) + e3 * (x0[3 * C + c] - h[c])));
            }
            return;
        }
        for (std::size_t o = begin; o < end; ++o) {
            if (I == 1) {
                const T* g = dy + o * C;
                const T* xr = x + o * C;
#pragma omp simd
                for (std::size_t c = 0; c < C; ++c) {
                    s1[c] += static_cast<double>(g[c]);
                    s2[c] += static_cast<double>(g[c] * (xr[c] - h[c]));
                }
                continue;
            }
            for (std::size_t c = 0; c < C; ++c) {
                const std::size_t base = (o * C + c) * I;
                const T hc = h[c];
                add_sums<T>(I, s1[c], s2[c], [=](std::size_t i) { return dy[base + i]; },
                            [=](std::size_t i) { return dy[base + i] * (x[base + i] - hc); });
            }
        }
    });
    // per channel, dx = coef_dy dy + coef_xc (x - hi) + coef_constant (dx_coefficients)
    std::vector<T> coef_dy(C), coef_xc(C), coef_constant(C);
    for (std::size_t c = 0; c < C; ++c) {
        const double s = inv_std[c];
        const double sum_dy = sums[c];
        // sum dy (x - mean) = sum dy (x - hi) - lo sum dy (lo is 0 in float64)
        const double sum_dy_xc = centre[c].lo == 0.0 ? sums[C + c] : sums[C + c] - centre[c].lo * sum_dy;
        const double sum_dy_xhat = sum_dy_xc * s;
        if (dgamma) {
            dgamma[c] = static_cast<T>(sum_dy_xhat);
        }
        if (dbeta) {
            dbeta[c] = static_cast<T>(sum_dy);
        }
        const double g = gamma ? static_cast<double>(gamma[c]) : 1.0;
        const DxCoefficients<T> k = dx_coefficients(dx_terms(s, g, sum_dy, sum_dy_xhat, n, training), centre[c], 1.0);
        coef_dy[c] = k.dy;
        coef_xc[c] = k.xc;
        coef_constant[c] = k.constant;
    }
    if (!dx) {
        return;
    }
    const T* k_dy = coef_dy.data();
    const T* k_xc = coef_xc.data();
    const T* k_constant = coef_constant.data();
    const bool stream = worth_streaming<T>(work);
    for_row_blocks(L.outer, work, [&](std::size_t begin, std::size_t end) {
        if (four_rows<T> && I == 1 && end - begin == rows_per_sweep) {  // coefficients loaded once per four rows
            const T* g0 = dy + begin * C;
            const T* x0 = x + begin * C;
            write_out(stream, dx + begin * C, rows_per_sweep * C, [&](T* d0) {
#pragma omp simd
                for (std::size_t c = 0; c < C; ++c) {
                    const T hc = h[c], a = k_dy[c], b = k_xc[c], e = k_constant[c];
                    d0[c] = a * g0[c] + b * (x0[c] - hc) + e;
                    d0[C + c] = a * g0[C + c] + b * (x0[C + c] - hc) + e;
                    d0[2 * C + c] = a * g0[2 * C + c] + b * (x0[2 * C + c] - hc) + e;
                    d0[3 * C + c] = a * g0[3 * C + c] + b * (x0[3 * C + c] - hc) + e;
                }
            });
            return;
        }
        for (std::size_t o = begin; o < end; ++o) {
            if (I == 1) {
                const T* g = dy + o * C;
                const T* xr = x + o * C;
                write_out(stream, dx + o * C, C, [&](T* d) {
#pragma omp simd
                    for (std::size_t c = 0; c < C; ++c) {
                        d[c] = k_dy[c] * g[c] + k_xc[c] * (xr[c] - h[c]) + k_constant[c];
                    }
                });
                continue;
            }
            for (std::size_t c = 0; c < C; ++c) {
                const std::size_t base = (o * C + c) * I;
                const T hc = h[c], a = k_dy[c], b = k_xc[c], e = k_constant[c];
#pragma omp simd
                for (std::size_t i = 0; i < I; ++i) {
                    dx[base + i] = a * dy[base + i] + b * (x[base + i] - hc) + e;
                }
            }
        }
    });
}

// ---- per sample (layer norm, group norm): each set contiguous, finished while in cache ----------

// The mean and biased variance of n contiguous values, shifted by the first (as batch_stats).
template <class T>
void set_stats(const T* x, std::size_t n, double& mean, double& var) {
    if (n == 0) {
        mean = var = std::numeric_limits<double>::quiet_NaN();  // the mean of no values
        return;
    }
    const T k = x[0];
    double s1 = 0;
    double s2 = 0;
    add_sums<T>(n, s1, s2, [=](std::size_t i) { return x[i] - k; }, [=](std::size_t i) { return (x[i] - k) * (x[i] - k); });
    const double m = s1 / static_cast<double>(n);
    mean = static_cast<double>(k) + m;
    var = std::max(0.0, s2 / static_cast<double>(n) - m * m);
}

// Set r's first channel: its group's.
std::size_t first_channel(const NormLayout& L, std::size_t r) { return (r % L.groups) * (L.channels / L.groups); }

// y = xhat * gamma + beta along one set, xhat = ((x - hi) - lo) * inv_std, gamma and beta varying
// along it (layer norm's, or group norm's with no spatial dimensions).
template <class T, bool Gamma, bool Beta>
void affine_along(const T* x, std::size_t n, T hi, T lo, T s, const T* gamma, const T* beta, T* y) {
#pragma omp simd
    for (std::size_t k = 0; k < n; ++k) {
        T v = ((x[k] - hi) - lo) * s;
        if constexpr (Gamma) {
            v = v * gamma[k];
        }
        if constexpr (Beta) {
            v = v + beta[k];
        }
        y[k] = v;
    }
}

template <class T>
void set_apply(const T* x, const NormLayout& L, std::size_t r, double mean, double inv_std, const T* gamma,
               const T* beta, T* y) {
    const std::size_t c0 = first_channel(L, r);
    const T* g = gamma ? gamma + c0 : nullptr;
    const T* b = beta ? beta + c0 : nullptr;
    if (L.inner == 1) {
        const Centre<T> m = centre_of<T>(mean);
        const T lo = static_cast<T>(m.lo), s = static_cast<T>(inv_std);
        const std::size_t n = L.count();
        if (g && b) {
            affine_along<T, true, true>(x, n, m.hi, lo, s, g, b, y);
        } else if (g) {
            affine_along<T, true, false>(x, n, m.hi, lo, s, g, b, y);
        } else if (b) {
            affine_along<T, false, true>(x, n, m.hi, lo, s, g, b, y);
        } else {
            affine_along<T, false, false>(x, n, m.hi, lo, s, g, b, y);
        }
        return;
    }
    for (std::size_t c = 0; c < L.channels / L.groups; ++c) {  // gamma and beta common to each channel's block
        const Affine<T> a = affine_terms<T>(mean, inv_std, g ? static_cast<double>(g[c]) : 1.0,
                                            b ? static_cast<double>(b[c]) : 0.0);
        const T* xc = x + c * L.inner;
        T* yc = y + c * L.inner;
#pragma omp simd
        for (std::size_t i = 0; i < L.inner; ++i) {
            yc[i] = (xc[i] - a.hi) * a.scale + a.shift;
        }
    }
}

template <class T>
void sample_forward(const T* x, const NormLayout& L, const T* gamma, const T* beta, double eps, double* mean,
                    double* var, double* inv_std, T* y) {
    const std::size_t n = L.count();
    const bool stream = worth_streaming<T>(L.sets() * n);
    const std::size_t per_chunk = sets_per_chunk<T>(n);
    const std::size_t ahead = sets_ahead<T>(n, L.sets());
    for_ranges(L.sets(), worth_sharing(L.sets() * n), [&](std::size_t begin, std::size_t end) {
        for (std::size_t r0 = begin; r0 < end; r0 += per_chunk) {
            const std::size_t r1 = std::min(end, r0 + per_chunk);
            write_out(stream, y + r0 * n, (r1 - r0) * n, [&](T* y0) {
                for (std::size_t r = r0; r < r1; ++r) {
                    if (ahead && r + ahead < end) {
                        prefetch(x + (r + ahead) * n, n * sizeof(T));
                    }
                    set_stats(x + r * n, n, mean[r], var[r]);
                    inv_std[r] = 1.0 / std::sqrt(var[r] + eps);
                    set_apply(x + r * n, L, r, mean[r], inv_std[r], gamma, beta, y0 + (r - r0) * n);
                }
            });
        }
        stream_fence();
    });
}

// One set's backward: its sums, its share of dgamma and dbeta (added into dg and db, the set's
// channels' partial sums, when not null), then dx. `training` as in norm_backward.
template <class T, class Acc>
void set_backward(const T* dy, const T* x, const NormLayout& L, std::size_t r, double mean, double inv_std,
                  const T* gamma, bool training, T* dx, Acc* dg, Acc* db) {
    const std::size_t n = L.count();
    const Centre<T> m = centre_of<T>(mean);
    const T hi = m.hi, lo = static_cast<T>(m.lo), s = static_cast<T>(inv_std);
    const T* g = gamma ? gamma + first_channel(L, r) : nullptr;
    double sum_dxhat = 0;
    double sum_dxhat_xhat = 0;
    if (L.inner == 1) {  // gamma varies along the set: dL/dxhat = gamma dy, summed as such
        auto xhat = [=](std::size_t k) { return ((x[k] - hi) - lo) * s; };
        if (g && dg && db) {  // the common case in one sweep: the set's sums and its dgamma, dbeta terms
            for (std::size_t start = 0; start < n; start += std::min(n - start, run<T>)) {
                const std::size_t end = start + std::min(n - start, run<T>);
                T r1 = 0;
                T r2 = 0;
#pragma omp simd reduction(+ : r1, r2)
                for (std::size_t k = start; k < end; ++k) {
                    const T xh = ((x[k] - hi) - lo) * s;
                    const T dxhat = g[k] * dy[k];
                    r1 += dxhat;
                    r2 += dxhat * xh;
                    dg[k] += static_cast<Acc>(dy[k] * xh);
                    db[k] += static_cast<Acc>(dy[k]);
                }
                sum_dxhat += static_cast<double>(r1);
                sum_dxhat_xhat += static_cast<double>(r2);
            }
        } else {
            if (g) {
                add_sums<T>(n, sum_dxhat, sum_dxhat_xhat, [=](std::size_t k) { return g[k] * dy[k]; },
                            [=](std::size_t k) { return g[k] * dy[k] * xhat(k); });
            } else {
                add_sums<T>(n, sum_dxhat, sum_dxhat_xhat, [=](std::size_t k) { return dy[k]; },
                            [=](std::size_t k) { return dy[k] * xhat(k); });
            }
            if (dg) {
#pragma omp simd
                for (std::size_t k = 0; k < n; ++k) {
                    dg[k] += static_cast<Acc>(dy[k] * xhat(k));
                }
            }
            if (db) {
#pragma omp simd
                for (std::size_t k = 0; k < n; ++k) {
                    db[k] += static_cast<Acc>(dy[k]);
                }
            }
        }
        if (!dx) {
            return;
        }
        const DxCoefficients<T> c =
            dx_coefficients(dx_terms(inv_std, 1.0, sum_dxhat, sum_dxhat_xhat, static_cast<double>(n), training), m, 1.0);
        if (g) {
#pragma omp simd
            for (std::size_t k = 0; k < n; ++k) {
                dx[k] = c.dy * (g[k] * dy[k]) + c.xc * (x[k] - hi) + c.constant;
            }
            return;
        }
#pragma omp simd
        for (std::size_t k = 0; k < n; ++k) {
            dx[k] = c.dy * dy[k] + c.xc * (x[k] - hi) + c.constant;
        }
        return;
    }
    // gamma common to each channel's block of `inner` values
    const std::size_t channels = L.channels / L.groups;
    std::vector<double> gains(channels);
    for (std::size_t c = 0; c < channels; ++c) {
        const T* dyc = dy + c * L.inner;
        const T* xc = x + c * L.inner;
        double sum_dy = 0;
        double sum_dy_xhat = 0;
        add_sums<T>(L.inner, sum_dy, sum_dy_xhat, [=](std::size_t i) { return dyc[i]; },
                    [=](std::size_t i) { return dyc[i] * (((xc[i] - hi) - lo) * s); });
        gains[c] = g ? static_cast<double>(g[c]) : 1.0;
        sum_dxhat += gains[c] * sum_dy;
        sum_dxhat_xhat += gains[c] * sum_dy_xhat;
        if (dg) dg[c] += static_cast<Acc>(sum_dy_xhat);
        if (db) db[c] += static_cast<Acc>(sum_dy);
    }
    if (!dx) {
        return;
    }
    const DxTerms t = dx_terms(inv_std, 1.0, sum_dxhat, sum_dxhat_xhat, static_cast<double>(n), training);
    for (std::size_t c = 0; c < channels; ++c) {
        const DxCoefficients<T> k = dx_coefficients(t, m, gains[c]);
        const T* dyc = dy + c * L.inner;
        const T* xc = x + c * L.inner;
        T* dxc = dx + c * L.inner;
#pragma omp simd
        for (std::size_t i = 0; i < L.inner; ++i) {
            dxc[i] = k.dy * dyc[i] + k.xc * (xc[i] - k.hi) + k.constant;
        }
    }
}

template <class T>
void sample_backward(const T* dy, const T* x, const NormLayout& L, const double* mean, const double* inv_std,
                     const T* gamma, bool training, T* dx, T* dgamma, T* dbeta) {
    const std::size_t n = L.count();
    const std::size_t P = L.channels;
    const bool parallel = worth_sharing(L.sets() * n);
    const bool stream = worth_streaming<T>(L.sets() * n);
    const std::size_t per_chunk = std::min(float_sets, sets_per_chunk<T>(n));
    const bool in_float = std::is_same_v<T, float> && L.inner == 1 && per_chunk > 1;
    const std::size_t ahead = sets_ahead<T>(n, L.sets());
    const std::size_t threads = parallel ? static_cast<std::size_t>(omp_get_max_threads()) : 1;
    // dgamma and dbeta sum over sets: each thread into its own partial sums, added in thread order
    std::vector<std::vector<double>> dg(dgamma ? threads : 0, std::vector<double>(P, 0.0));
    std::vector<std::vector<double>> db(dbeta ? threads : 0, std::vector<double>(P, 0.0));
    if (n > 0) {  // sets of no values: nothing to add to dgamma or dbeta
        for_ranges(L.sets(), parallel, [&](std::size_t begin, std::size_t end) {
            const std::size_t t = parallel ? static_cast<std::size_t>(omp_get_thread_num()) : 0;
            double* dg_t = dgamma ? dg[t].data() : nullptr;
            double* db_t = dbeta ? db[t].data() : nullptr;
            // Short float32 sets: a chunk's dgamma and dbeta terms summed in float32 first (at most
            // float_sets sets of them), then added into the float64 partials.
            std::vector<T> dg_chunk(in_float && dgamma ? P : 0, T(0)), db_chunk(in_float && dbeta ? P : 0, T(0));
            const auto sets = [&](std::size_t r0, std::size_t r1, T* dx0) {
                for (std::size_t r = r0; r < r1; ++r) {
                    if (ahead && r + ahead < end) {
                        prefetch(x + (r + ahead) * n, n * sizeof(T));
                        prefetch(dy + (r + ahead) * n, n * sizeof(T));
                    }
                    const std::size_t c0 = first_channel(L, r);
                    T* dxr = dx0 ? dx0 + (r - r0) * n : nullptr;
                    if (in_float) {
                        set_backward(dy + r * n, x + r * n, L, r, mean[r], inv_std[r], gamma, training, dxr,
                                     dgamma ? dg_chunk.data() + c0 : nullptr, dbeta ? db_chunk.data() + c0 : nullptr);
                    } else {
                        set_backward(dy + r * n, x + r * n, L, r, mean[r], inv_std[r], gamma, training, dxr,
                                     dgamma ? dg_t + c0 : nullptr, dbeta ? db_t + c0 : nullptr);
                    }
                }
                if (in_float) {
                    for (std::size_t p = 0; p < dg_chunk.size(); ++p) {
                        dg_t[p] += static_cast<double>(dg_chunk[p]);
                        dg_chunk[p] = T(0);
                    }
                    for (std::size_t p = 0; p < db_chunk.size(); ++p) {
                        db_t[p] += static_cast<double>(db_chunk[p]);
                        db_chunk[p] = T(0);
                    }
                }
            };
            for (std::size_t r0 = begin; r0 < end; r0 += per_chunk) {
                const std::size_t r1 = std::min(end, r0 + per_chunk);
                if (dx) {
                    write_out(stream, dx + r0 * n, (r1 - r0) * n, [&](T* dx0) { sets(r0, r1, dx0); });
                } else {
                    sets(r0, r1, nullptr);
                }
            }
            stream_fence();
        });
    }
    for (std::size_t p = 0; p < P; ++p) {
        if (dgamma) {
            double s = 0;
            for (std::size_t t = 0; t < threads; ++t) s += dg[t][p];
            dgamma[p] = static_cast<T>(s);
        }
        if (dbeta) {
            double s = 0;
            for (std::size_t t = 0; t < threads; ++t) s += db[t][p];
            dbeta[p] = static_cast<T>(s);
        }
    }
}

}  // namespace

// ---- the family's entry points: one layout, two loop shapes ----------------------------------

Array<double> inv_std_of(const Array<double>& var, double eps) {
    Array<double> s = tg::empty<double>(var.shape());
    for (std::size_t c = 0; c < var.size(); ++c) {
        s.data()[c] = 1.0 / std::sqrt(var.data()[c] + eps);
    }
    return s;
}

template <class T>
void norm_stats(const T* x, const NormLayout& L, double* mean, double* var) {
    if (L.across_batch()) {
        batch_stats(x, L, mean, var);
        return;
    }
    const std::size_t n = L.count();
    for_ranges(L.sets(), worth_sharing(L.sets() * n), [&](std::size_t begin, std::size_t end) {
        for (std::size_t r = begin; r < end; ++r) {
            set_stats(x + r * n, n, mean[r], var[r]);
        }
    });
}

template <class T>
void norm_apply(const T* x, const NormLayout& L, const double* mean, const double* inv_std, const T* gamma,
                const T* beta, T* y) {
    if (L.across_batch()) {
        batch_apply(x, L, mean, inv_std, gamma, beta, y);
        return;
    }
    const std::size_t n = L.count();
    for_ranges(L.sets(), worth_sharing(L.sets() * n), [&](std::size_t begin, std::size_t end) {
        for (std::size_t r = begin; r < end; ++r) {
            set_apply(x + r * n, L, r, mean[r], inv_std[r], gamma, beta, y + r * n);
        }
    });
}

template <class T>
void norm_forward(const T* x, const NormLayout& L, const T* gamma, const T* beta, double eps, double* mean,
                  double* var, double* inv_std, T* y) {
    if (!L.across_batch()) {
        sample_forward(x, L, gamma, beta, eps, mean, var, inv_std, y);
        return;
    }
    batch_stats(x, L, mean, var);
    for (std::size_t c = 0; c < L.sets(); ++c) {
        inv_std[c] = 1.0 / std::sqrt(var[c] + eps);
    }
    batch_apply(x, L, mean, inv_std, gamma, beta, y);
}

template <class T>
void norm_backward(const T* dy, const T* x, const NormLayout& L, const double* mean, const double* inv_std,
                   const T* gamma, bool training, T* dx, T* dgamma, T* dbeta) {
    if (L.across_batch()) {
        batch_backward(dy, x, L, mean, inv_std, gamma, training, dx, dgamma, dbeta);
    } else {
        sample_backward(dy, x, L, mean, inv_std, gamma, training, dx, dgamma, dbeta);
    }
}

#define TG_INSTANTIATE(T)                                                                                         \
    template void norm_stats(const T*, const NormLayout&, double*, double*);                                     \
    template void norm_apply(const T*, const NormLayout&, const double*, const double*, const T*, const T*, T*); \
    template void norm_forward(const T*, const NormLayout&, const T*, const T*, double, double*, double*, double*, \
                               T*);                                                                               \
    template void norm_backward(const T*, const T*, const NormLayout&, const double*, const double*, const T*,   \
                                bool, T*, T*, T*);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg
