// BatchNorm1d / BatchNorm2d: PyTorch's semantics, checked against hand-derived numbers.
#include "helpers.hpp"

using tg::Array;
using tg::Tensor;
using tg::nn::BatchNorm1d;
using tg::nn::BatchNorm2d;
using tg::nn::BatchNormImpl;
using tg::nn::BatchNormOptions;

namespace {

// x with column 0 = {1, 2, 3, 6} (mean 3, biased var 3.5, unbiased 14/3) and column 1 = {0, 0, 4, 4}
// (mean 2, biased var 4, unbiased 16/3).
Tensor<double> small_batch() {
    return Tensor<double>(Array<double>{{1., 0.}, {2., 0.}, {3., 4.}, {6., 4.}});
}

const std::vector<BatchNormImpl> impls = {BatchNormImpl::composite, BatchNormImpl::fused};

BatchNormOptions with(BatchNormImpl impl, BatchNormOptions o = {}) {
    o.impl = impl;
    return o;
}

}  // namespace

TEST_CASE("defaults are PyTorch's: eps 1e-5, momentum 0.1, gamma 1, beta 0, running 0 and 1") {
    BatchNorm1d<double> bn(3);
    CHECK(bn.options().eps == 1e-5);
    CHECK(*bn.options().momentum == 0.1);
    CHECK(bn.options().affine);
    CHECK(bn.options().track_running_stats);
    CHECK(bn.weight->value() == Array<double>{1., 1., 1.});
    CHECK(bn.bias->value() == Array<double>{0., 0., 0.});
    CHECK(bn.running->mean.value() == Array<double>{0., 0., 0.});
    CHECK(bn.running->var.value() == Array<double>{1., 1., 1.});
    CHECK(bn.running->num_batches_tracked == 0);
    CHECK(bn.is_training());
    CHECK(bn.named_parameters().size() == 2);
    CHECK(bn.named_buffers().size() == 2);
}

TEST_CASE("a training step normalises with the biased variance and keeps the unbiased one") {
    for (BatchNormImpl impl : impls) {
        CAPTURE(std::string(tg::nn::to_string(impl)));
        BatchNorm1d<double> bn(2, with(impl));
        Tensor<double> y = bn(small_batch());
        // y = (x - 3) / sqrt(3.5 + 1e-5) in column 0
        CHECK(y.value()(0, 0) == doctest::Approx(-2.0 / std::sqrt(3.5 + 1e-5)).epsilon(1e-14));
        CHECK(y.value()(3, 1) == doctest::Approx(2.0 / std::sqrt(4.0 + 1e-5)).epsilon(1e-14));
        // running = 0.9 * running + 0.1 * batch (momentum weights the NEW value)
        CHECK(bn.running->mean.value()(0) == doctest::Approx(0.3).epsilon(1e-14));
        CHECK(bn.running->mean.value()(1) == doctest::Approx(0.2).epsilon(1e-14));
        CHECK(bn.running->var.value()(0) == doctest::Approx(0.9 + 0.1 * 14.0 / 3.0).epsilon(1e-14));
        CHECK(bn.running->var.value()(1) == doctest::Approx(0.9 + 0.1 * 16.0 / 3.0).epsilon(1e-14));
        CHECK(bn.running->num_batches_tracked == 1);
    }
}

TEST_CASE("momentum unset means a cumulative average over the batches seen") {
    for (BatchNormImpl impl : impls) {
        CAPTURE(std::string(tg::nn::to_string(impl)));
        BatchNormOptions o = with(impl);
        o.momentum = std::nullopt;
        BatchNorm1d<double> bn(2, o);
        bn(small_batch());
        // first batch: factor 1/1, the running values ARE the batch's
        CHECK(bn.running->mean.value()(0) == doctest::Approx(3.0).epsilon(1e-14));
        CHECK(bn.running->var.value()(0) == doctest::Approx(14.0 / 3.0).epsilon(1e-14));
        bn(Tensor<double>(Array<double>(small_batch().value() + 3.0)));
        // second: factor 1/2, the plain average of (3, 6)
        CHECK(bn.running->mean.value()(0) == doctest::Approx(4.5).epsilon(1e-14));
        CHECK(bn.running->var.value()(0) == doctest::Approx(14.0 / 3.0).epsilon(1e-14));
        CHECK(bn.running->num_batches_tracked == 2);
    }
}

TEST_CASE("evaluation uses the running statistics as constants, and train()/eval() switch") {
    for (BatchNormImpl impl : impls) {
        CAPTURE(std::string(tg::nn::to_string(impl)));
        BatchNorm1d<double> bn(2, with(impl));
        bn(small_batch());
        bn.eval();
        CHECK_FALSE(bn.is_training());
        Tensor<double> x(Array<double>{{1., 1.}, {2., 3.}}, true);
        Tensor<double> y = bn(x);
        const double rm = 0.3, rv = 0.9 + 0.1 * 14.0 / 3.0;
        CHECK(y.value()(1, 0) == doctest::Approx((2.0 - rm) / std::sqrt(rv + 1e-5)).epsilon(1e-14));
        // no update in evaluation
        CHECK(bn.running->num_batches_tracked == 1);
        CHECK(bn.running->mean.value()(0) == doctest::Approx(rm).epsilon(1e-14));
        // dy/dx = gamma / sqrt(rv + eps): the statistics do not depend on x
        y.backward(Array<double>{{1., 0.}, {1., 0.}});
        CHECK(x.grad()(0, 0) == doctest::Approx(1.0 / std::sqrt(rv + 1e-5)).epsilon(1e-14));
        CHECK(x.grad()(1, 0) == doctest::Approx(1.0 / std::sqrt(rv + 1e-5)).epsilon(1e-14));
        bn.train();
        CHECK(bn.is_training());
    }
}

TEST_CASE("affine = false has no parameters; track_running_stats = false has no buffers") {
    for (BatchNormImpl impl : impls) {
        CAPTURE(std::string(tg::nn::to_string(impl)));
        BatchNormOptions o = with(impl);
        o.affine = false;
        o.track_running_stats = false;
        BatchNorm1d<double> bn(2, o);
        CHECK_FALSE(bn.weight);
        CHECK_FALSE(bn.running);
        CHECK(bn.named_parameters().empty());
        CHECK(bn.named_buffers().empty());
        // batch statistics in evaluation too
        bn.eval();
        Tensor<double> y = bn(small_batch());
        CHECK(y.value()(0, 0) == doctest::Approx(-2.0 / std::sqrt(3.5 + 1e-5)).epsilon(1e-14));
    }
}

TEST_CASE("training with one value per channel is refused, and changes nothing") {
    for (BatchNormImpl impl : impls) {
        CAPTURE(std::string(tg::nn::to_string(impl)));
        BatchNorm1d<double> bn(3, with(impl));
        CHECK_THROWS_AS(bn(Tensor<double>::zeros({1, 3})), tg::ValueError);
        CHECK(bn.running->num_batches_tracked == 0);
        BatchNorm2d<double> bn2(3, with(impl));
        CHECK_THROWS_AS(bn2(Tensor<double>::zeros({1, 3, 1, 1})), tg::ValueError);
        // one sample with several positions is fine for BatchNorm2d
        CHECK_NOTHROW(bn2(tgtest::random_tensor({1, 3, 2, 2}, 1)));
        // and one sample is fine in evaluation
        bn.eval();
        CHECK_NOTHROW(bn(Tensor<double>::zeros({1, 3})));
    }
}

TEST_CASE("inputs of the wrong rank or channel count are ShapeErrors naming the module") {
    BatchNorm1d<double> bn(3);
    CHECK_THROWS_AS(bn(Tensor<double>::zeros({4, 2})), tg::ShapeError);
    CHECK_THROWS_AS(bn(Tensor<double>::zeros({4, 3, 2, 2})), tg::ShapeError);
    try {
        bn(Tensor<double>::zeros({4, 2}));
    } catch (const tg::ShapeError& e) {
        CHECK(std::string(e.what()).find("BatchNorm1d") != std::string::npos);
        CHECK(std::string(e.what()).find("[4, 2]") != std::string::npos);
    }
    BatchNorm2d<double> bn2(3);
    CHECK_THROWS_AS(bn2(Tensor<double>::zeros({4, 3})), tg::ShapeError);
    CHECK_THROWS_AS(BatchNorm1d<double>(0), tg::ValueError);
    BatchNormOptions o;
    o.momentum = 1.5;
    CHECK_THROWS_AS(BatchNorm1d<double>(2, o), tg::ValueError);
}

TEST_CASE("the cs231n convention weights the old value and keeps the biased variance") {
    for (BatchNormImpl impl : impls) {
        CAPTURE(std::string(tg::nn::to_string(impl)));
        BatchNormOptions o = BatchNormOptions::cs231n();
        o.impl = impl;
        BatchNorm1d<double> bn(2, o);
        CHECK(bn.running->var.value() == Array<double>{0., 0.});
        bn(small_batch());
        // running = 0.9 * 0 + 0.1 * batch, with the BIASED variance 3.5
        CHECK(bn.running->mean.value()(0) == doctest::Approx(0.3).epsilon(1e-14));
        CHECK(bn.running->var.value()(0) == doctest::Approx(0.35).epsilon(1e-14));
        o.momentum = std::nullopt;
        CHECK_THROWS_AS(BatchNorm1d<double>(2, o), tg::ValueError);
    }
}
