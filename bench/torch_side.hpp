// The libtorch side of the benchmarks, behind a narrow interface so that only torch_side.cpp
// includes libtorch's headers. Without -DTAPEGRAD_BENCH_TORCH=ON it is the stub in
// torch_stub.cpp and every case runs for tapegrad alone.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace bench {

using Run = std::function<void()>;  // one timed repetition; empty when not available

// micrograd's demo (its demo.ipynb): a 2-16-16-1 MLP (ReLU on the hidden layers) on 100 two-moons
// points with labels -1 and 1, max-margin loss relu(1 - y * score) averaged, plus 1e-4 times the
// sum of the squared parameters, and SGD with lr 1 - 0.9 k / 100 at step k. Both sides start from
// these points and weights (biases 0, weights uniform in [-1, 1] as micrograd draws them).
struct MicrogradCase {
    std::vector<double> x;  // 100 x 2, row by row
    std::vector<double> y;  // 100 labels, -1 or 1
    std::vector<std::vector<double>> w;  // per layer: inputs x outputs, row by row
    std::vector<std::size_t> sizes{2, 16, 16, 1};
    double alpha = 1e-4;
};

struct TorchSide {
    static bool available();
    static std::string version();
    static void set_threads(int n);
    // BatchNorm1d forward + backward of (n, d): its fused kernel, or the primitive sequence
    // mean, sub, pow, mean, add, sqrt, div, mul, add.
    static Run batchnorm(long n, long d, bool f64, bool composite);
    // nn.LayerNorm(d) (groups = 0) or nn.GroupNorm(groups, d) forward + backward of (n, d),
    // PyTorch's fused kernels.
    static Run sample_norm(long n, long d, long groups, bool f64);
    // A chain of `length` additions of a constant to a one-element tensor, forward and backward.
    static Run chain(int length);
    // (m, k) @ (k, n), float32, no gradient.
    static Run matmul(long m, long k, long n);
    // One Adam step of 784-256-128-10 with BatchNorm1d and ReLU on a batch, float32.
    static Run mlp_step(long batch);
    // One SGD step of micrograd's demo, float64: from one-element tensors, one op per scalar
    // operation as micrograd builds it (scalar), or from (100, 2) and weight matrices (batched).
    static Run micrograd(const MicrogradCase& c, bool scalar);
};

}  // namespace bench
