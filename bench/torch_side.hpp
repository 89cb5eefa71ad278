// The libtorch side of the benchmarks, behind a narrow interface so that only torch_side.cpp
// includes libtorch's headers. Without -DTAPEGRAD_BENCH_TORCH=ON it is the stub in
// torch_stub.cpp and every case runs for tapegrad alone.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace bench {

using Run = std::function<void()>;  // one timed repetition; empty when not available

struct TorchSide {
    static bool available();
    static std::string version();
    static void set_threads(int n);
    // BatchNorm1d forward + backward of (n, d): its fused kernel, or the primitive sequence
    // mean, sub, pow, mean, add, sqrt, div, mul, add.
    static Run batchnorm(long n, long d, bool f64, bool composite);
    // nn.LayerNorm(d) (groups = 0) or nn.GroupNorm(groups, d) forward + backward of (n, d),
    // PyTorch's fused kernels.
    static Run rownorm(long n, long d, long groups, bool f64);
    // A chain of `length` additions of a constant to a one-element tensor, forward and backward.
    static Run chain(int length);
    // (m, k) @ (k, n), float32, no gradient.
    static Run matmul(long m, long k, long n);
    // One Adam step of 784-256-128-10 with BatchNorm1d and ReLU on a batch, float32.
    static Run mlp_step(long batch);
};

}  // namespace bench
