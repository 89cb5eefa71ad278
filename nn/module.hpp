// Module: a layer with named parameters and buffers and a training/evaluation switch, as in
// PyTorch's nn.Module.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/tensor.hpp"

namespace tg::nn {

template <class T>
using Named = std::vector<std::pair<std::string, Tensor<T>>>;

template <class T>
class Module {
public:
    virtual ~Module() = default;

    virtual Tensor<T> forward(const Tensor<T>& x) = 0;
    Tensor<T> operator()(const Tensor<T>& x) { return forward(x); }

    // train() and eval() switch modes; modules whose behaviour differs (batch norm, dropout)
    // read is_training().
    virtual void train(bool on = true) { training_ = on; }
    void eval() { train(false); }
    bool is_training() const { return training_; }

    // Learnable tensors (gradients flow into them) and state (running statistics), by the names
    // PyTorch's state_dict uses.
    virtual Named<T> named_parameters() const { return {}; }
    virtual Named<T> named_buffers() const { return {}; }

    void zero_grad() {
        for (auto& [name, p] : named_parameters()) {
            p.zero_grad();
        }
    }

protected:
    bool training_ = true;
};

}  // namespace tg::nn
