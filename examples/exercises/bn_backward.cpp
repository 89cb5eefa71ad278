// Batch norm's backward pass by hand, in C++ over tg::Array (an xtensor xarray of double), written by
// `tapegrad exercise bn`. The forward pass is done. Fill in each TODO, in order, following the
// derivation; every quantity you fill in is saved as <name>.npy in the exercise folder, and
//     tapegrad check --mine <the exercise folder>
// grades each one against the engine and explains the first wrong one. A TODO left empty shows as
// "not given". Build and run (the CMakeLists.txt beside this file builds it against tapegrad):
//     cmake -S . -B build && cmake --build build && build/bn_backward <the exercise folder>
// or, with g++ alone and pkg-config (<build>: tapegrad's build folder, such as build/release in its
// source tree; or leave PKG_CONFIG_PATH out for an installed tapegrad):
//     g++ -std=c++17 -O1 bn_backward.cpp -o bn_backward $(PKG_CONFIG_PATH=<build> pkg-config --cflags --libs tapegrad)
// Useful: xt::sum(a, {0}) sums over the batch (axis 0), a * b and a / b broadcast a (D) row over
// (N, D) rows, xt::sqrt, xt::pow(a, p).
#include <cstdio>
#include <optional>
#include <string>

#include "tapegrad.hpp"

using tg::Array;

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s EXERCISE_FOLDER\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    auto load = [&](const char* name) { return tg::io::load_npy<double>(dir + "/" + name + ".npy"); };
    const Array<double> X = load("x");          // the input, (N, D)
    const Array<double> dy = load("dy");        // dL/dy, the upstream gradient, (N, D)
    const Array<double> gamma = load("gamma");  // scale, (D)
    const Array<double> beta = load("beta");    // shift, (D)
    const double eps = 1e-5;
    const double N = static_cast<double>(X.shape()[0]);

    // ---- forward (done) ------------------------------------------------------------------------
    const Array<double> mu = xt::sum(X, {0}) / N;              // 1/N sum_i x_i
    const Array<double> xc = X - mu;                           // x - mu
    const Array<double> sigma2 = xt::sum(xc * xc, {0}) / N;    // divided by N, not N - 1
    const Array<double> std_ = xt::sqrt(sigma2 + eps);         // sqrt(sigma2 + eps)
    const Array<double> xhat = xc / std_;                      // (x - mu) / std
    const Array<double> y = gamma * xhat + beta;               // gamma * xhat + beta

    // ---- backward: your turn, in the derivation's order -----------------------------------------
    std::optional<Array<double>> dbeta;       // TODO dL/dbeta, (D)
    std::optional<Array<double>> dgamma;      // TODO dL/dgamma, (D)
    std::optional<Array<double>> dxhat;       // TODO dL/dxhat, (N, D)
    std::optional<Array<double>> dsigma2;     // TODO dL/dsigma2, (D)
    std::optional<Array<double>> dmu_xhat;    // TODO dL/dmu from xhat, (D)
    std::optional<Array<double>> dmu_sigma2;  // TODO dL/dmu from sigma2, (D)
    std::optional<Array<double>> dmu;         // TODO dL/dmu, (D): the sum of both
    std::optional<Array<double>> dx_xhat;     // TODO dL/dX from xhat, (N, D)
    std::optional<Array<double>> dx_sigma2;   // TODO dL/dX from sigma2, (N, D)
    std::optional<Array<double>> dx_mu;       // TODO dL/dX from mu, (N, D)
    std::optional<Array<double>> dx;          // TODO dL/dX, (N, D): the sum of the three

    // ---- save what you computed --------------------------------------------------------------------
    auto save = [&](const char* name, const std::optional<Array<double>>& a) {
        if (a) {
            tg::io::save_npy(dir + "/" + name + ".npy", *a);
            std::printf("saved %s\n", name);
        }
    };
    save("mu", mu), save("xc", xc), save("sigma2", sigma2), save("std", std_), save("xhat", xhat), save("y", y);
    save("dbeta", dbeta), save("dgamma", dgamma), save("dxhat", dxhat), save("dsigma2", dsigma2);
    save("dmu_xhat", dmu_xhat), save("dmu_sigma2", dmu_sigma2), save("dmu", dmu);
    save("dx_xhat", dx_xhat), save("dx_sigma2", dx_sigma2), save("dx_mu", dx_mu), save("dx", dx);
    std::printf("now run: tapegrad check --mine %s\n", dir.c_str());
    return 0;
}
