// The tape as a flat list: every tensor an output depends on (constants and data included), each
// after its inputs (post-order), with a printable label. Drawings and traces share these labels.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace tg::see {

template <class T>
struct TapeEntry {
    std::shared_ptr<TensorImpl<T>> tensor;
    // The tensor's name; otherwise "<op>_<k>" for an op's result, the value for a 0-d constant
    // ("1e-05"), and "input_<k>" for other leaves.
    std::string label;
    std::vector<std::size_t> inputs;  // positions in the list of the tensors it was computed from

    Tensor<T> handle() const { return Tensor<T>::from_impl(tensor); }
};

template <class T>
std::vector<TapeEntry<T>> tape_of(const Tensor<T>& root);

// "sub(X, mu)": how the entry was computed, or its label for a leaf.
template <class T>
std::string expression_of(const std::vector<TapeEntry<T>>& tape, std::size_t i);

// Marks every intermediate result on the tape to keep its gradient (for drawings and lessons).
template <class T>
void retain_all_grads(const Tensor<T>& root);

}  // namespace tg::see
