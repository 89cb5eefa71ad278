// Batch norm two ways: the composite graph and the fused node must agree with each other, with
// central differences, and with the identities the closed form implies.
#include "helpers.hpp"

using tg::Array;
using tg::Tensor;
using tg::nn::BatchNorm1d;
using tg::nn::BatchNorm2d;
using tg::nn::BatchNormImpl;
using tg::nn::BatchNormOptions;
using tgtest::random_tensor;
using tgtest::rel_diff;
using Inputs = std::vector<Tensor<double>>;

namespace {

const std::vector<tg::Shape> agreement_shapes = {{2, 3}, {32, 10}, {7, 4, 5}, {3, 2, 4, 4}};

template <class T>
std::unique_ptr<tg::nn::BatchNorm<T>> make_bn(const tg::Shape& shape, BatchNormImpl impl,
                                              BatchNormOptions o = {}) {
    o.impl = impl;
    if (shape.size() == 4) {
        return std::make_unique<BatchNorm2d<T>>(shape[1], o);
    }
    return std::make_unique<BatchNorm1d<T>>(shape[1], o);
}

struct StepResult {
    Array<double> y, dx, dgamma, dbeta, running_mean, running_var;
    double dx_scale = 0;  // max |gamma * dy / std|: the size of the terms that cancel in dx
    double kappa = 0;     // max |x| / std over channels: how many digits x - mu loses
    double dgamma_scale = 0;  // max over channels of sum |dy * xhat|, the terms of dgamma
};

// Three training steps then one evaluation step; returns the last training step's results and
// the evaluation output, in double.
template <class T>
std::pair<StepResult, StepResult> run(const tg::Shape& shape, BatchNormImpl impl) {
    auto bn = make_bn<T>(shape, impl);
    Tensor<T> g0 = random_tensor<T>({shape[1]}, 7, 0.5, 1.5);
    Tensor<T> b0 = random_tensor<T>({shape[1]}, 8);
    bn->weight->mutable_value() = g0.value();
    bn->bias->mutable_value() = b0.value();
    StepResult train, eval;
    for (int step = 0; step < 4; ++step) {
        if (step == 3) {
            bn->eval();
        }
        Tensor<T> x = random_tensor<T>(shape, 100 + step, -2.0, 3.0);
        Tensor<T> dy = random_tensor<T>(shape, 200 + step, -1.0, 1.0, false);
        bn->zero_grad();
        Tensor<T> y = (*bn)(x);
        y.backward(dy.value());
        StepResult& r = step == 3 ? eval : train;
        r.y = xt::cast<double>(y.value());
        r.dx = xt::cast<double>(x.grad());
        r.dgamma = xt::cast<double>(bn->weight->grad());
        r.dbeta = xt::cast<double>(bn->bias->grad());
        r.running_mean = xt::cast<double>(bn->running->mean.value());
        r.running_var = xt::cast<double>(bn->running->var.value());
        const tg::ChannelLayout L = tg::channel_layout("test", shape, tg::channel_axes(shape.size()));
        std::vector<double> mean(L.channels), var(L.channels);
        tg::norm_stats(x.value().data(), L, mean.data(), var.data());
        std::vector<double> abs_terms(L.channels, 0.0);
        for (std::size_t o = 0; o < L.outer; ++o) {
            for (std::size_t c = 0; c < L.channels; ++c) {
                for (std::size_t i = 0; i < L.inner; ++i) {
                    const double d = dy.value().data()[(o * L.channels + c) * L.inner + i];
                    const double xv = x.value().data()[(o * L.channels + c) * L.inner + i];
                    r.dx_scale = std::max(r.dx_scale, std::abs(g0.value()(c) * d) / std::sqrt(var[c] + 1e-5));
                    r.kappa = std::max(r.kappa, std::abs(xv) / std::sqrt(var[c] + 1e-5));
                    abs_terms[c] += std::abs(d * (xv - mean[c])) / std::sqrt(var[c] + 1e-5);
                }
            }
        }
        r.dgamma_scale = *std::max_element(abs_terms.begin(), abs_terms.end());
    }
    return {train, eval};
}

// In float32 the composite graph's mu is rounded to float32, which shifts xhat by up to
// half an ulp of |x| divided by std: kappa * 2^-24. Where the data is well conditioned
// (kappa < 40) the tolerance is the given one; beyond, it grows with that bound.
template <class T>
void check_agreement(double tolerance) {
    for (const auto& shape : agreement_shapes) {
        CAPTURE(tg::shape_str(shape));
        const auto [ct, ce] = run<T>(shape, BatchNormImpl::composite);
        const auto [ft, fe] = run<T>(shape, BatchNormImpl::fused);
        const double tol = std::is_same_v<T, float>
                               ? std::max(tolerance, 4.0 * ft.kappa * std::ldexp(1.0, -24))
                               : tolerance;
        const double kappa = ft.kappa;  // a plain variable: C++17 lambdas (CAPTURE) cannot capture a structured binding
        CAPTURE(kappa);
        CHECK(rel_diff(ct.y, ft.y) < tol);
        // dx and dgamma relative to the size of their terms: with N = 2, dx = gamma s/N (N dy - sum dy - xhat
        // sum dy xhat) nearly cancels (it is 0 at eps = 0), and two float32 roundings of a near-zero
        // number differ relative to itself however exact each method is.
        CHECK(tgtest::max_abs_diff(ct.dx, ft.dx) / std::max(xt::amax(xt::abs(ft.dx))(), ft.dx_scale) < tol);
        CHECK(tgtest::max_abs_diff(ct.dgamma, ft.dgamma) / std::max(xt::amax(xt::abs(ft.dgamma))(), ft.dgamma_scale) < tol);
        CHECK(rel_diff(ct.dbeta, ft.dbeta) < tol);
        CHECK(rel_diff(ct.running_mean, ft.running_mean) < tol);
        CHECK(rel_diff(ct.running_var, ft.running_var) < tol);
        CHECK(rel_diff(ce.y, fe.y) < tol);
        CHECK(rel_diff(ce.dx, fe.dx) < tol);
        CHECK(rel_diff(ce.dgamma, fe.dgamma) < tol);
    }
}

}  // namespace

TEST_CASE("composite and fused agree to 1e-12 in float64 on y, dx, dgamma, dbeta and running statistics") {
    check_agreement<double>(1e-12);
}

TEST_CASE("composite and fused agree to 1e-5 in float32") { check_agreement<float>(1e-5); }

TEST_CASE("both batch norms pass gradcheck in training and evaluation mode") {
    for (const auto& shape : agreement_shapes) {
        for (BatchNormImpl impl : {BatchNormImpl::composite, BatchNormImpl::fused}) {
            for (bool training : {true, false}) {
                CAPTURE(tg::shape_str(shape));
                CAPTURE(std::string(tg::nn::to_string(impl)));
                CAPTURE(training);
                auto bn = make_bn<double>(shape, impl);
                if (!training) {
                    // give the running statistics non-trivial values first
                    bn->forward(random_tensor(shape, 5, -1.0, 4.0, false));
                    bn->eval();
                }
                Tensor<double> x = random_tensor(shape, 1, -2.0, 2.0);
                Tensor<double> gamma = random_tensor({shape[1]}, 2, 0.5, 1.5);
                Tensor<double> beta = random_tensor({shape[1]}, 3);
                tgtest::check_gradients(
                    [&](const Inputs& in) {
                        bn->weight = in[1];
                        bn->bias = in[2];
                        tg::nn::BatchNorm<double>& m = *bn;
                        return m(in[0]);
                    },
                    {x, gamma, beta});
            }
        }
    }
}

TEST_CASE("the plain functions take any axes: statistics over axis 0 only, as NumPy tutorials do") {
    Tensor<double> x = random_tensor({6, 2, 3}, 11);
    Array<double> gamma = random_tensor({2, 3}, 12, 0.5, 1.5).value();
    Array<double> beta = random_tensor({2, 3}, 13).value();
    Array<double> dy = random_tensor({6, 2, 3}, 14).value();
    const auto [y, cache] = tg::batchnorm_forward(x.value(), gamma, beta, {0}, 1e-5);
    const tg::BatchNormGrads<double> g = tg::batchnorm_backward(dy, cache);
    // the same thing built from primitives
    Tensor<double> gt(gamma, true), bt(beta, true);
    tg::BatchNormOutput<double> ref = tg::batchnorm_composite<double>(x, gt, bt, {0}, 1e-5);
    ref.y.backward(dy);
    CHECK(rel_diff(y, ref.y.value()) < 1e-13);
    CHECK(rel_diff(g.dx, x.grad()) < 1e-12);
    CHECK(rel_diff(g.dgamma, gt.grad()) < 1e-12);
    CHECK(rel_diff(g.dbeta, bt.grad()) < 1e-12);
    CHECK(cache.mean.shape() == tg::Shape{2, 3});
}

TEST_CASE("dx sums to zero over the batch, and so does dx * xhat, for every channel") {
    // Both identities follow from the closed form with sum(xhat) = 0 and sum(xhat^2) = N; the
    // second holds exactly only for eps = 0 (with eps, sum(xhat^2) = N sigma2 / (sigma2 + eps)).
    for (const auto& shape : agreement_shapes) {
        CAPTURE(tg::shape_str(shape));
        Tensor<double> x = random_tensor(shape, 21, -3.0, 5.0);
        Array<double> dy = random_tensor(shape, 22).value();
        Tensor<double> gamma = random_tensor({shape[1]}, 23, 0.5, 1.5);
        const tg::Axes axes = tg::channel_axes(shape.size());
        auto out = tg::batchnorm_fused<double>(x, gamma, std::nullopt, axes, 0.0);
        out.y.backward(dy);
        // xhat recomputed from the batch statistics
        const tg::ChannelLayout L = tg::channel_layout("test", shape, axes);
        Array<double> m = out.batch_mean, v = out.batch_var;
        m.reshape(L.keep_shape);
        v.reshape(L.keep_shape);
        const Array<double> xhat = (x.value() - m) / xt::sqrt(v);
        const std::vector<std::size_t> ax(axes.begin(), axes.end());
        const Array<double> s1 = xt::sum(x.grad(), ax, xt::evaluation_strategy::immediate);
        const Array<double> s2 = xt::sum(x.grad() * xhat, ax, xt::evaluation_strategy::immediate);
        CHECK(xt::amax(xt::abs(s1))() < 1e-12);
        CHECK(xt::amax(xt::abs(s2))() < 1e-12);
    }
}

// The fused node keeps its statistics in float64 and centres x in two steps (ops/norm_kernels),
// so it normalises this data to unit variance. The composite graph's mu is itself a float32
// tensor: rounded to float32's spacing at 1e4 (2^-10), it can be off by 2^-11 = 4.9e-4, i.e.
// 5% of a standard deviation, which leaves y's mean off by up to 0.05 and its variance by up to
// (4.9e-4 / 1e-2)^2 = 2.4e-3. That is float32's limit, not the graph's; the test pins both.
TEST_CASE("float32 data with mean 1e4 and std 1e-2 still normalises to unit variance") {
    std::mt19937_64 rng(5);
    std::normal_distribution<double> dist(1e4, 1e-2);
    Array<float> v = tg::empty<float>({256, 4});
    for (auto& e : v) {
        e = static_cast<float>(dist(rng));
    }
    for (BatchNormImpl impl : {BatchNormImpl::composite, BatchNormImpl::fused}) {
        CAPTURE(std::string(tg::nn::to_string(impl)));
        BatchNormOptions o;
        o.impl = impl;
        o.eps = 1e-12;  // negligible against the variance of 1e-4
        BatchNorm1d<float> bn(4, o);
        const Array<double> y = xt::cast<double>(bn(Tensor<float>(v)).value());
        const Array<double> mean = xt::mean(y, {0});
        const Array<double> var = xt::variance(y, std::array<std::size_t, 1>{0});
        const bool fused = impl == BatchNormImpl::fused;
        CHECK(xt::amax(xt::abs(mean))() < (fused ? 1e-3 : 0.05));
        CHECK(xt::amax(xt::abs(var - 1.0))() < (fused ? 1e-3 : 2.5e-3));
    }
}

TEST_CASE("the composite graph has the textbook's named nodes; the fused one is a single node") {
    Tensor<double> x = random_tensor({4, 3}, 31);
    BatchNormOptions o;
    o.impl = BatchNormImpl::composite;
    BatchNorm1d<double> composite(3, o);
    Tensor<double> y = composite(x);
    std::vector<std::string> names;
    std::size_t ops = 0;
    for (auto* t : tg::topological_order(y)) {
        names.push_back(t->name);
        ops += t->grad_fn ? 1 : 0;
    }
    for (const char* n : {"mu", "xc", "sigma2", "std", "xhat", "y", "gamma", "beta"}) {
        CAPTURE(n);
        CHECK(std::find(names.begin(), names.end(), n) != names.end());
    }
    CHECK(ops >= 8);
    CHECK(ops <= 12);
    BatchNorm1d<double> fused(3);
    Tensor<double> yf = fused(x);
    CHECK(std::string(yf.grad_fn()->op) == "batch_norm");
    std::size_t fused_ops = 0;
    for (auto* t : tg::topological_order(yf)) {
        fused_ops += t->grad_fn ? 1 : 0;
    }
    CHECK(fused_ops == 1);
}

// The float32 (N, C) backward forms four rows' terms of sum(dy) and sum(dy (x - mu)) in float32
// and carries only their sums in float64. That must leave dx, dgamma and dbeta within a few
// float32 roundings of the float64 backward of the same numbers, with an uneven row count (a
// remainder of rows after the blocks of four) and a mean far from zero.
TEST_CASE("float32 fused backward is within float32's resolution of the float64 one") {
    const tg::Shape shape{1027, 33};
    const Array<double> x64 = random_tensor(shape, 31, 1e3, 2.0).value();
    const Array<double> dy64 = random_tensor(shape, 32, 0.5, 3.0).value();
    const Array<double> gamma64 = random_tensor({33}, 33, 0.5, 1.5).value();
    const Array<double> beta64 = random_tensor({33}, 34).value();
    // the same numbers in both precisions: float64 copies of the float32 inputs
    const Array<float> x32 = xt::cast<float>(x64), dy32 = xt::cast<float>(dy64);
    const Array<float> gamma32 = xt::cast<float>(gamma64), beta32 = xt::cast<float>(beta64);
    const auto [y32, cache32] = tg::batchnorm_forward<float>(x32, gamma32, beta32, {0}, 1e-5);
    const auto [y64, cache64] = tg::batchnorm_forward<double>(xt::cast<double>(x32), xt::cast<double>(gamma32),
                                                              xt::cast<double>(beta32), {0}, 1e-5);
    const tg::BatchNormGrads<float> g32 = tg::batchnorm_backward(dy32, cache32);
    const tg::BatchNormGrads<double> g64 = tg::batchnorm_backward(Array<double>(xt::cast<double>(dy32)), cache64);
    CHECK(rel_diff(g32.dx, g64.dx) < 1e-6);
    CHECK(rel_diff(g32.dgamma, g64.dgamma) < 1e-6);
    CHECK(rel_diff(g32.dbeta, g64.dbeta) < 1e-6);
}
