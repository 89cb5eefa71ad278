// The layers of a small MLP, with PyTorch's names, shapes and initialisation.
#pragma once

#include <memory>
#include <optional>
#include <random>

#include "nn/module.hpp"

namespace tg::nn {

// y = x W^T + b with W (out, in). PyTorch's default initialisation: Kaiming-uniform with
// a = sqrt(5), i.e. W and b uniform in [-1/sqrt(in), 1/sqrt(in)].
template <class T>
class Linear : public Module<T> {
public:
    Linear(std::size_t in_features, std::size_t out_features, Generator& gen, bool bias = true);
    Tensor<T> forward(const Tensor<T>& x) override;
    std::string describe() const override;

    Tensor<T> weight;
    std::optional<Tensor<T>> bias;

protected:
    Named<T> own_parameters() const override;
};

template <class T>
class ReLU : public Module<T> {
public:
    Tensor<T> forward(const Tensor<T>& x) override;
    std::string describe() const override { return "ReLU()"; }
};

template <class T>
class Tanh : public Module<T> {
public:
    Tensor<T> forward(const Tensor<T>& x) override;
    std::string describe() const override { return "Tanh()"; }
};

template <class T>
class Sigmoid : public Module<T> {
public:
    Tensor<T> forward(const Tensor<T>& x) override;
    std::string describe() const override { return "Sigmoid()"; }
};

// Zeroes each value with probability p in training and scales the rest by 1/(1-p); the identity
// in evaluation (inverted dropout, as PyTorch).
template <class T>
class Dropout : public Module<T> {
public:
    Dropout(double p, std::uint64_t seed);
    Tensor<T> forward(const Tensor<T>& x) override;
    std::string describe() const override;

protected:
    std::vector<std::pair<std::string, Generator*>> own_generators() override { return {{"generator", &gen_}}; }

private:
    double p_;
    Generator gen_;
};

// Children run in order; their entries are named "0.weight", "1.running_mean", ...
template <class T>
class Sequential : public Module<T> {
public:
    Sequential() = default;
    Sequential& add(std::shared_ptr<Module<T>> m) {
        layers_.push_back(std::move(m));
        return *this;
    }
    Tensor<T> forward(const Tensor<T>& x) override;
    std::string describe() const override;
    std::size_t size() const { return layers_.size(); }
    Module<T>& operator[](std::size_t i) { return *layers_.at(i); }

protected:
    std::vector<std::pair<std::string, Module<T>*>> children() const override;

private:
    std::vector<std::shared_ptr<Module<T>>> layers_;
};

}  // namespace tg::nn
