// Golden values recorded once from PyTorch 1.13 (tests/fixtures/make_bn_fixtures.py): for every
// case, three training steps and one evaluation step of nn.BatchNorm1d / nn.BatchNorm2d,
// reproduced by both implementations, to 1e-10 relative in float64 and 1e-4 in float32.
#include <filesystem>
#include <fstream>
#include <map>

#include "helpers.hpp"

using tg::Array;
using tg::Tensor;
using tg::nn::BatchNormImpl;
using tg::nn::BatchNormOptions;
namespace fs = std::filesystem;

namespace {

const fs::path bn_fixtures = fs::path(TAPEGRAD_FIXTURES) / "bn";

template <class T>
void replay(const fs::path& dir, const std::map<std::string, std::string>& meta, BatchNormImpl impl) {
    const double tol = std::is_same_v<T, double> ? 1e-10 : 1e-4;
    BatchNormOptions o;
    o.impl = impl;
    o.eps = std::stod(meta.at("eps"));
    o.momentum = meta.at("momentum") == "none" ? std::nullopt : std::optional<double>(std::stod(meta.at("momentum")));
    o.affine = meta.at("affine") == "1";
    o.track_running_stats = meta.at("track") == "1";
    if (meta.count("convention") && meta.at("convention") == "cs231n") {
        o.convention = tg::nn::Convention::cs231n;
    }
    const Array<T> x0 = tgtest::load<T>(dir, "x0");
    std::unique_ptr<tg::nn::BatchNorm<T>> bn;
    if (meta.at("module") == "2d") {
        bn = std::make_unique<tg::nn::BatchNorm2d<T>>(x0.shape()[1], o);
    } else {
        bn = std::make_unique<tg::nn::BatchNorm1d<T>>(x0.shape()[1], o);
    }
    if (o.affine) {
        bn->weight->mutable_value() = tgtest::load<T>(dir, "gamma_init");
        bn->bias->mutable_value() = tgtest::load<T>(dir, "beta_init");
    }
    for (const std::string k : {"0", "1", "2", "e"}) {
        CAPTURE(k);
        if (k == "e") {
            bn->eval();
        }
        Tensor<T> x(tgtest::load<T>(dir, "x" + k), true);
        bn->zero_grad();
        Tensor<T> y = (*bn)(x);
        y.backward(tgtest::load<T>(dir, "dy" + k));
        CHECK(tgtest::rel_diff(y.value(), tgtest::load<T>(dir, "y" + k)) < tol);
        CHECK(tgtest::rel_diff(x.grad(), tgtest::load<T>(dir, "dx" + k)) < tol);
        if (o.affine) {
            CHECK(tgtest::rel_diff(bn->weight->grad(), tgtest::load<T>(dir, "dgamma" + k)) < tol);
            CHECK(tgtest::rel_diff(bn->bias->grad(), tgtest::load<T>(dir, "dbeta" + k)) < tol);
        }
        if (o.track_running_stats) {
            CHECK(tgtest::rel_diff(bn->running->mean.value(), tgtest::load<T>(dir, "running_mean" + k)) < tol);
            CHECK(tgtest::rel_diff(bn->running->var.value(), tgtest::load<T>(dir, "running_var" + k)) < tol);
            CHECK(bn->running->num_batches_tracked == tgtest::load<std::int64_t>(dir, "num_batches_tracked" + k)());
        }
    }
}

}  // namespace

TEST_CASE("both implementations reproduce PyTorch's recorded BatchNorm numbers") {
    std::size_t cases = 0;
    for (const auto& entry : fs::directory_iterator(bn_fixtures)) {
        if (!entry.is_directory()) {
            continue;
        }
        const auto meta = tgtest::read_meta(entry.path());
        for (BatchNormImpl impl : {BatchNormImpl::composite, BatchNormImpl::fused}) {
            CAPTURE(entry.path().filename().string());
            CAPTURE(std::string(tg::nn::to_string(impl)));
            if (meta.at("dtype") == "float64") {
                replay<double>(entry.path(), meta, impl);
            } else {
                replay<float>(entry.path(), meta, impl);
            }
        }
        ++cases;
    }
    CHECK(cases == 14);
}
