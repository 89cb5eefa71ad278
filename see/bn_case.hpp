// One batch-norm step as the command line and the report describe it: an input, an upstream
// gradient, the module's options and the state it starts from.
#pragma once

#include <memory>
#include <optional>

#include "nn/batchnorm.hpp"

namespace tg::see {

template <class T>
struct BnCase {
    Array<T> x;
    Array<T> dy;
    std::optional<Array<T>> gamma, beta, running_mean, running_var;  // defaults when empty
    std::int64_t num_batches_tracked = 0;
    bool training = true;
    nn::BatchNormOptions options;

    // BatchNorm1d for rank 2 and 3, BatchNorm2d for rank 4, in the state described.
    std::unique_ptr<nn::BatchNorm<T>> make_module(nn::BatchNormImpl impl) const {
        nn::BatchNormOptions o = options;
        o.impl = impl;
        const std::size_t channels = x.shape()[1];
        std::unique_ptr<nn::BatchNorm<T>> bn;
        if (x.dimension() == 4) {
            bn = std::make_unique<nn::BatchNorm2d<T>>(channels, o);
        } else {
            bn = std::make_unique<nn::BatchNorm1d<T>>(channels, o);
        }
        if (bn->weight && gamma) bn->weight->mutable_value() = *gamma;
        if (bn->bias && beta) bn->bias->mutable_value() = *beta;
        if (bn->running) {
            if (running_mean) bn->running->mean.mutable_value() = *running_mean;
            if (running_var) bn->running->var.mutable_value() = *running_var;
            bn->running->num_batches_tracked = num_batches_tracked;
        }
        bn->train(training);
        return bn;
    }

    // The same case in another dtype.
    template <class U>
    BnCase<U> as() const {
        auto cast = [](const std::optional<Array<T>>& a) {
            return a ? std::optional<Array<U>>(Array<U>(xt::cast<U>(*a))) : std::nullopt;
        };
        BnCase<U> c;
        c.x = xt::cast<U>(x);
        c.dy = xt::cast<U>(dy);
        c.gamma = cast(gamma);
        c.beta = cast(beta);
        c.running_mean = cast(running_mean);
        c.running_var = cast(running_var);
        c.num_batches_tracked = num_batches_tracked;
        c.training = training;
        c.options = options;
        return c;
    }
};

}  // namespace tg::see
