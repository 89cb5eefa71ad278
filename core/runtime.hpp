// Process-wide settings that decide speed: the BLAS kernels, the thread count, and whether freed
// memory goes back to the system. Programs call ensure_fast_blas() and reuse_freed_memory() first
// thing in main(); tapegrad's own programs do.
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

// The core to ask for when `detected` is a slow fallback on a CPU with these features, or "".
std::string better_blas_core(const std::string& detected, bool avx2, bool avx512);

// Call first thing in main(); may not return (it re-executes the program).
void ensure_fast_blas(char** argv);

// Threads for BLAS and for tapegrad's own kernels (OpenMP); 0 leaves the defaults (one per core).
void set_threads(int threads);
int threads();

// Note: glibc returns blocks of 32 MiB and more to the system when they are freed, so every step
// that allocates a large tensor again would page-fault it in again (bench/DESIGN.md has the cost).
// Its mmap threshold cannot be raised past 32 MiB, so this keeps every block on the heap
// (M_MMAP_MAX = 0) and freed memory in the process (M_TRIM_THRESHOLD).
void reuse_freed_memory();

}  // namespace tg
