// Module: a layer with named parameters and buffers and a training/evaluation switch, as in
// PyTorch's nn.Module. Names follow PyTorch's state_dict: a child's entries are prefixed with
// its name ("0.weight", "1.running_mean"), so saved weights load into PyTorch as they are.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.hpp"

namespace tg::nn {

// Draws initial weights and dropout masks; seeded, so that runs repeat exactly.
using Generator = std::mt19937_64;

template <class T>
using Named = std::vector<std::pair<std::string, Tensor<T>>>;

template <class T>
class Module {
public:
    virtual ~Module() = default;

    virtual Tensor<T> forward(const Tensor<T>& x) = 0;
    Tensor<T> operator()(const Tensor<T>& x) { return forward(x); }

    // train() and eval() switch this module and its children; modules whose behaviour differs
    // (batch norm, dropout) read is_training().
    void train(bool on = true) {
        training_ = on;
        for (auto& [name, child] : children()) {
            child->train(on);
        }
    }
    void eval() { train(false); }
    bool is_training() const { return training_; }

    // Learnable tensors, by state_dict name.
    Named<T> named_parameters() const { return collect(&Module::own_parameters); }
    // State that is not learned (running statistics), by state_dict name.
    Named<T> named_buffers() const { return collect(&Module::own_buffers); }
    // Integer state (num_batches_tracked), by state_dict name.
    std::vector<std::pair<std::string, std::int64_t*>> named_counters() {
        std::vector<std::pair<std::string, std::int64_t*>> out = own_counters();
        for (auto& [name, child] : children()) {
            for (auto& [n, c] : child->named_counters()) {
                out.emplace_back(name + "." + n, c);
            }
        }
        return out;
    }

    // Random generators (dropout's), by state_dict-style name ("3.generator"): not part of a
    // model's weights, but a checkpoint keeps them so that a resumed run draws the same masks.
    std::vector<std::pair<std::string, Generator*>> named_generators() {
        std::vector<std::pair<std::string, Generator*>> out = own_generators();
        for (auto& [name, child] : children()) {
            for (auto& [n, g] : child->named_generators()) {
                out.emplace_back(name + "." + n, g);
            }
        }
        return out;
    }

    std::vector<Tensor<T>> parameters() const {
        std::vector<Tensor<T>> out;
        for (auto& [name, p] : named_parameters()) {
            out.push_back(p);
        }
        return out;
    }

    void zero_grad() {
        for (auto& [name, p] : named_parameters()) {
            p.zero_grad();
        }
    }

    // A one-line description, as PyTorch prints it ("Linear(in_features=784, out_features=256)").
    virtual std::string describe() const = 0;

protected:
    virtual Named<T> own_parameters() const { return {}; }
    virtual Named<T> own_buffers() const { return {}; }
    virtual std::vector<std::pair<std::string, std::int64_t*>> own_counters() { return {}; }
    virtual std::vector<std::pair<std::string, Generator*>> own_generators() { return {}; }
    virtual std::vector<std::pair<std::string, Module<T>*>> children() const { return {}; }

private:
    Named<T> collect(Named<T> (Module::*own)() const) const {
        Named<T> out = (this->*own)();
        for (const auto& [name, child] : children()) {
            for (auto& [n, t] : child->collect(own)) {
                out.emplace_back(name + "." + n, t);
            }
        }
        return out;
    }

    bool training_ = true;
};

}  // namespace tg::nn
