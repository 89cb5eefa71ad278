// The BLAS behind matmul (Debian's OpenBLAS): which kernels it runs and with how many threads.
//
// Note: OpenBLAS 0.3.21 picks its kernels from the CPU model it recognises. On a CPU newer than
// that release it can fall back to its generic SSE3 "Prescott" kernels, 4 to 5 times slower,
// unless OPENBLAS_CORETYPE names a core before the library loads. ensure_fast_blas() does that for
// our programs: when OpenBLAS fell back to a pre-AVX2 core on a CPU with AVX2 (or AVX-512), it
// re-executes the program once with OPENBLAS_CORETYPE=Haswell (or SkylakeX). A value the user set
// is always respected.
#pragma once

#include <string>

namespace tg {

struct BlasInfo {
    std::string core;  // the kernels OpenBLAS runs ("Zen", "Haswell", "SkylakeX", "Prescott", ...)
    int threads = 1;
};

BlasInfo blas_info();
void set_blas_threads(int threads);

// The core to ask for when `detected` is a slow fallback on a CPU with these features, or "".
std::string better_blas_core(const std::string& detected, bool avx2, bool avx512);

// Call first thing in main(); may not return (it re-executes the program).
void ensure_fast_blas(char** argv);

}  // namespace tg
