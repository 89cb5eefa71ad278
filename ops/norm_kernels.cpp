#include "ops/norm_kernels.hpp"

#include <omp.h>

#include <cmath>
#include <vector>

#include "core/parallel.hpp"

namespace tg {

// Note: within a row the parameters are read from gamma + (row % groups) * blocks, one value per
// block. With inner = 1 (layer norm, or group norm of an (N, C) input) a block is one value and
// the loops run straight along the row, so that they vectorise; otherwise along each block.

template <class T>
void rownorm_forward(const T* x, const RowLayout& L, const T* gamma, const T* beta, double eps, double* mean,
                     double* inv_std, T* y) {
    const std::size_t n = L.count();
    for_ranges(L.rows, worth_sharing(L.rows * n), [&](std::size_t begin, std::size_t end) {
        for (std::size_t r = begin; r < end; ++r) {
            const T* xr = x + r * n;
            T* yr = y + r * n;
            // two passes in float64: the mean, then the variance about it (no cancellation)
            double s = 0;
#pragma omp simd reduction(+ : s)
            for (std::size_t k = 0; k < n; ++k) {
                s += static_cast<double>(xr[k]);
            }
            const double m = s / static_cast<double>(n);
            double v = 0;
#pragma omp simd reduction(+ : v)
            for (std::size_t k = 0; k < n; ++k) {
                const double d = static_cast<double>(xr[k]) - m;
                v += d * d;
            }
            const double is = 1.0 / std::sqrt(v / static_cast<double>(n) + eps);
            mean[r] = m;
            inv_std[r] = is;
            const T mt = static_cast<T>(m);
            const T ist = static_cast<T>(is);
            const std::size_t at = (r % L.groups) * L.blocks;
            const T* gr = gamma ? gamma + at : nullptr;
            const T* br = beta ? beta + at : nullptr;
            if (L.inner == 1) {
#pragma omp simd
                for (std::size_t k = 0; k < n; ++k) {
                    const T xhat = (xr[k] - mt) * ist;
                    yr[k] = (gr ? xhat * gr[k] : xhat) + (br ? br[k] : T(0));
                }
                continue;
            }
            for (std::size_t b = 0; b < L.blocks; ++b) {
                const T scale = gr ? static_cast<T>(static_cast<double>(gr[b]) * is) : ist;
                const T shift = br ? br[b] : T(0);
                const T* xb = xr + b * L.inner;
                T* yb = yr + b * L.inner;
#pragma omp simd
                for (std::size_t i = 0; i < L.inner; ++i) {
                    yb[i] = (xb[i] - mt) * scale + shift;
                }
            }
        }
    });
}

template <class T>
void rownorm_backward(const T* dy, const T* x, const RowLayout& L, const double* mean, const double* inv_std,
                      const T* gamma, T* dx, T* dgamma, T* dbeta) {
    const std::size_t n = L.count();
    const std::size_t P = L.params();
    const bool parallel = worth_sharing(L.rows * n);
    const std::size_t threads = parallel ? static_cast<std::size_t>(omp_get_max_threads()) : 1;
    // dgamma and dbeta sum over rows: each thread into its own partial sums, added in thread order
    std::vector<std::vector<double>> dg(dgamma ? threads : 0, std::vector<double>(P, 0.0));
    std::vector<std::vector<double>> db(dbeta ? threads : 0, std::vector<double>(P, 0.0));
    for_ranges(L.rows, parallel, [&](std::size_t begin, std::size_t end) {
        const std::size_t t = parallel ? static_cast<std::size_t>(omp_get_thread_num()) : 0;
        for (std::size_t r = begin; r < end; ++r) {
            if (n == 0) {
                break;  // sets of no values: nothing to add to dgamma or dbeta (their mean is NaN)
            }
            const T* xr = x + r * n;
            const T* dyr = dy + r * n;
            const double m = mean[r];
            const double is = inv_std[r];
            const std::size_t at = (r % L.groups) * L.blocks;
            const T* gr = gamma ? gamma + at : nullptr;
            double* dgr = dgamma ? dg[t].data() + at : nullptr;
            double* dbr = dbeta ? db[t].data() + at : nullptr;
            // per block: sum(dy) and sum(dy (x - mean)); over the row: sum(dxhat), sum(dxhat xhat)
            double s1 = 0, s2 = 0;
            if (L.inner == 1) {
#pragma omp simd reduction(+ : s1, s2)
                for (std::size_t k = 0; k < n; ++k) {
                    const double d = static_cast<double>(dyr[k]);
                    const double xc = static_cast<double>(xr[k]) - m;
                    const double gk = gr ? static_cast<double>(gr[k]) : 1.0;
                    s1 += gk * d;
                    s2 += gk * d * xc;
                    if (dgr) dgr[k] += d * xc * is;
                    if (dbr) dbr[k] += d;
                }
            } else {
                for (std::size_t b = 0; b < L.blocks; ++b) {
                    const T* dyb = dyr + b * L.inner;
                    const T* xb = xr + b * L.inner;
                    double b1 = 0, b2 = 0;
#pragma omp simd reduction(+ : b1, b2)
                    for (std::size_t i = 0; i < L.inner; ++i) {
                        const double d = static_cast<double>(dyb[i]);
                        b1 += d;
                        b2 += d * (static_cast<double>(xb[i]) - m);
                    }
                    const double gb = gr ? static_cast<double>(gr[b]) : 1.0;
                    s1 += gb * b1;
                    s2 += gb * b2;
                    if (dgr) dgr[b] += b2 * is;
                    if (dbr) dbr[b] += b1;
                }
            }
            if (!dx) {
                continue;
            }
            // dx = inv_std / N * (N dxhat - sum(dxhat) - xhat sum(dxhat xhat)), with
            // sum(dxhat xhat) = inv_std * s2
            const double c1 = s1 / static_cast<double>(n);
            const double c2 = s2 * is * is / static_cast<double>(n);  // multiplies (x - mean)
            T* dxr = dx + r * n;
            if (L.inner == 1) {
#pragma omp simd
                for (std::size_t k = 0; k < n; ++k) {
                    const double gk = gr ? static_cast<double>(gr[k]) : 1.0;
                    dxr[k] = static_cast<T>(is * (gk * static_cast<double>(dyr[k]) - c1 -
                                                  (static_cast<double>(xr[k]) - m) * c2));
                }
                continue;
            }
            for (std::size_t b = 0; b < L.blocks; ++b) {
                const double gb = gr ? static_cast<double>(gr[b]) : 1.0;
                const T* dyb = dyr + b * L.inner;
                const T* xb = xr + b * L.inner;
                T* dxb = dxr + b * L.inner;
#pragma omp simd
                for (std::size_t i = 0; i < L.inner; ++i) {
                    dxb[i] = static_cast<T>(is * (gb * static_cast<double>(dyb[i]) - c1 -
                                                  (static_cast<double>(xb[i]) - m) * c2));
                }
            }
        }
    });
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

#define TG_INSTANTIATE(T)                                                                                       \
    template void rownorm_forward(const T*, const RowLayout&, const T*, const T*, double, double*, double*, T*); \
    template void rownorm_backward(const T*, const T*, const RowLayout&, const double*, const double*,          \
                                   const T*, T*, T*, T*);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg
