#include "core/runtime.hpp"

#include <malloc.h>
#include <omp.h>

#include <unistd.h>

#include <cstdlib>
#include <string>

extern "C" {
char* openblas_get_corename(void);
int openblas_get_num_threads(void);
void openblas_set_num_threads(int);
}

namespace tg {

BlasInfo blas_info() { return BlasInfo{openblas_get_corename(), openblas_get_num_threads()}; }

std::string better_blas_core(const std::string& detected, bool avx2, bool avx512) {
    static const char* slow[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai",
                                 "Coppermine", "Northwood", "Banias", "Athlon", "Opteron", "Barcelona"};
    bool fallback = false;
    for (const char* s : slow) {
        fallback = fallback || detected == s;
    }
    if (!fallback) {
        return "";
    }
    return avx512 ? "SkylakeX" : avx2 ? "Haswell" : "";
}

void ensure_fast_blas(char** argv) {
    if (std::getenv("OPENBLAS_CORETYPE") || std::getenv("TAPEGRAD_BLAS_CHECKED")) {
        return;
    }
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    const std::string core = better_blas_core(openblas_get_corename(), avx2, avx512);
    if (core.empty()) {
        return;
    }
    setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
    setenv("TAPEGRAD_BLAS_CHECKED", "1", 1);  // never loop
    execv("/proc/self/exe", argv);
    // if the re-execution failed, carry on with the slower kernels
}

void set_threads(int n) {
    if (n > 0) {
        openblas_set_num_threads(n);
        omp_set_num_threads(n);
    }
}

int threads() { return omp_get_max_threads(); }

void reuse_freed_memory() {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 64 << 20);
}

}  // namespace tg
