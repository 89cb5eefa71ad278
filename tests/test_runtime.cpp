// Process-wide settings: the BLAS kernel check and thread counts.
#include "helpers.hpp"

TEST_CASE("a slow OpenBLAS fallback on a CPU with AVX2 or AVX-512 gets the matching fast kernels") {
    CHECK(tg::better_blas_core("Prescott", true, false) == "Haswell");
    CHECK(tg::better_blas_core("Prescott", true, true) == "SkylakeX");
    CHECK(tg::better_blas_core("Nehalem", true, false) == "Haswell");
    // a core OpenBLAS chose well is left alone, and a CPU without AVX2 has nothing better
    CHECK(tg::better_blas_core("Zen", true, false).empty());
    CHECK(tg::better_blas_core("SkylakeX", true, true).empty());
    CHECK(tg::better_blas_core("Prescott", false, false).empty());
    CHECK_FALSE(tg::blas_info().core.empty());
}

TEST_CASE("the thread count applies to tapegrad's kernels and results do not depend on it") {
    const int before = tg::threads();
    tg::Tensor<double> x = tgtest::random_tensor({512, 256}, 2, -1.0, 3.0);
    const tg::Array<double> dy = tgtest::random_tensor({512, 256}, 3).value();
    std::vector<tg::Array<double>> dx;
    for (int n : {1, 2}) {
        tg::set_threads(n);
        CHECK(tg::threads() == n);
        x.zero_grad();
        tg::batchnorm_fused<double>(x, std::nullopt, std::nullopt, {0}, 1e-5).y.backward(dy);
        dx.push_back(x.grad());
    }
    tg::set_threads(before);
    CHECK(tgtest::rel_diff(dx[0], dx[1]) < 1e-14);
}
