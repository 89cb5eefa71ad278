// A program outside tapegrad's tree, built against an installed copy (find_package or pkg-config):
// batch norm composite and fused on a 4 x 3 batch, both backwards, and the largest difference of
// their gradients.
#include <cstdio>

#include <tapegrad/tapegrad.hpp>

int main(int, char** argv) {
    tg::ensure_fast_blas(argv);
    using T = tg::Tensor<double>;
    const tg::Array<double> values = {{1.0, -2.0, 0.5}, {3.0, 0.0, -1.5}, {-0.5, 4.0, 2.0}, {2.5, 1.0, -3.0}};
    const tg::Array<double> dy = {{0.1, -0.3, 0.2}, {0.4, 0.0, -0.1}, {-0.2, 0.5, 0.3}, {0.7, 0.1, -0.6}};
    tg::Array<double> dx[2];
    for (int fused = 0; fused < 2; ++fused) {
        T x(values, true);
        T gamma(tg::Array<double>{1.5, 0.5, -1.0}, true);
        T beta(tg::Array<double>{0.0, 0.25, 1.0}, true);
        const tg::Axes axes = tg::channel_axes(2);
        const auto out = fused ? tg::batchnorm_fused<double>(x, gamma, beta, axes, 1e-5)
                               : tg::batchnorm_composite<double>(x, gamma, beta, axes, 1e-5);
        tg::sum(out.y * T(dy)).backward();
        dx[fused] = x.grad();
        std::printf("%-9s nodes %zu, dL/dx[0] = %+.6f %+.6f %+.6f\n", fused ? "fused" : "composite",
                    tg::topological_order(out.y).size(), dx[fused](0, 0), dx[fused](0, 1), dx[fused](0, 2));
    }
    const double diff = xt::amax(xt::abs(dx[0] - dx[1]))();
    std::printf("max |dx composite - dx fused| = %.1e: %s\n", diff, diff < 1e-12 ? "they agree" : "they DISAGREE");
    return diff < 1e-12 ? 0 : 1;
}
