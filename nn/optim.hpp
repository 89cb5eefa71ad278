// Optimisers with PyTorch 1.13's update rules, in the same order of operations so that float64
// steps match PyTorch's to rounding.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.hpp"

namespace tg::nn {

// An optimiser's state, named per parameter index as in PyTorch's optimizer.state_dict()
// ("0.exp_avg", "3.momentum_buffer") with its step count among the counters ("step").
template <class T>
struct OptimizerState {
    std::vector<std::pair<std::string, Array<T>>> arrays;
    std::vector<std::pair<std::string, std::int64_t>> counters;
};

template <class T>
class Optimizer {
public:
    explicit Optimizer(std::vector<Tensor<T>> params) : params_(std::move(params)) {}
    virtual ~Optimizer() = default;
    // Updates every parameter that has a gradient; the others are left alone.
    virtual void step() = 0;
    // A copy of the state (moments, momentum buffers, step count), for checkpoints.
    virtual OptimizerState<T> state() const = 0;
    // Replaces the state with one taken from an optimiser of the same kind over parameters of the
    // same shapes; a missing, unknown or misshapen entry is a ValueError and changes nothing.
    virtual void load_state(const OptimizerState<T>& state) = 0;
    void zero_grad() {
        for (auto& p : params_) {
            p.zero_grad();
        }
    }

protected:
    std::vector<Tensor<T>> params_;
};

struct SGDOptions {
    double lr = 0.01;
    double momentum = 0;
    double dampening = 0;
    double weight_decay = 0;
    bool nesterov = false;
};

// d = g + weight_decay * p; with momentum, buf = d on the first step, then
// buf = momentum * buf + (1 - dampening) * d; d = d + momentum * buf (Nesterov) or buf;
// p = p - lr * d.
template <class T>
class SGD : public Optimizer<T> {
public:
    SGD(std::vector<Tensor<T>> params, SGDOptions options);
    void step() override;
    OptimizerState<T> state() const override;
    void load_state(const OptimizerState<T>& state) override;

private:
    SGDOptions o_;
    std::vector<Array<T>> buf_;
    std::vector<bool> has_buf_;
};

struct AdamOptions {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0;  // added to the gradient (Adam, not AdamW)
};

// g = g + weight_decay * p; m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2;
// p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
template <class T>
class Adam : public Optimizer<T> {
public:
    Adam(std::vector<Tensor<T>> params, AdamOptions options);
    void step() override;
    OptimizerState<T> state() const override;
    void load_state(const OptimizerState<T>& state) override;
    long steps() const { return t_; }

private:
    AdamOptions o_;
    std::vector<Array<T>> m_, v_;
    long t_ = 0;
};

}  // namespace tg::nn
