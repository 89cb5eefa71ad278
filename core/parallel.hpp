// Sharing a loop among threads (OpenMP) only when it pays.
//
// Note: entering an OpenMP parallel region costs microseconds even when it runs on one thread
// (`#pragma omp parallel if (false)` still goes through the runtime): a 256 x 256 fused batch norm
// step took 63 to 68 us with its loops inside such regions and 57 us without. Loops below the
// threshold, or with one thread allowed, run directly.
#pragma once

#include <omp.h>

#include <cstddef>

namespace tg {

constexpr std::size_t parallel_threshold = 1 << 15;  // elements; below it a thread costs more than it saves

// Whether a loop over n elements is worth sharing among threads.
inline bool worth_sharing(std::size_t n) { return n > parallel_threshold && omp_get_max_threads() > 1; }

// f(begin, end) over [0, n): one contiguous range per thread when `parallel`, else once for all of
// it, without entering OpenMP.
template <class F>
void for_ranges(std::size_t n, bool parallel, F&& f) {
    if (!parallel) {
        f(std::size_t{0}, n);
        return;
    }
#pragma omp parallel
    {
        const auto t = static_cast<std::size_t>(omp_get_thread_num());
        const auto nt = static_cast<std::size_t>(omp_get_num_threads());
        f(n * t / nt, n * (t + 1) / nt);
    }
}

}  // namespace tg
