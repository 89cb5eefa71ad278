// The backward engine: one place that orders the tape, seeds, calls each node's backward,
// checks and accumulates gradients, and frees what is no longer needed.
#pragma once

#include <optional>

#include "core/tensor.hpp"

namespace tg {

// Watches a backward pass, node by node, in the order the engine runs it (used by traces).
template <class T>
class BackwardObserver {
public:
    virtual ~BackwardObserver() = default;
    // Called once the node that made `output` has run: `upstream` is dL/d(output) and
    // `contributions[i]` what it sends to its i-th input (empty where that input needs none).
    virtual void on_node(const TensorImpl<T>& output, const Node<T>& node, const Tensor<T>& upstream,
                         const Grads<T>& contributions) = 0;
    // Called when a gradient reaches a leaf (a parameter or an input that requires a gradient).
    virtual void on_leaf(const TensorImpl<T>& leaf, const Array<T>& total) = 0;
};

// dL/d(leaf) for every leaf that requires a gradient, accumulated into leaf.grad(); `seed` points
// to dL/d(root) (may be null when root has one element: then 1).
template <class T>
void run_backward(const Tensor<T>& root, const Tensor<T>* seed, BackwardOptions options,
                  BackwardObserver<T>* observer = nullptr);

// The gradients of `outputs` with respect to `inputs`, as PyTorch's torch.autograd.grad: the
// .grad of no tensor is touched. `grad_outputs` holds dL/d(output) for each output (empty: 1 for
// one-element outputs). With create_graph the results have a history of their own and can be
// differentiated again (a Hessian-vector product is grad of a sum of grad * v).
template <class T>
std::vector<Tensor<T>> grad(const std::vector<Tensor<T>>& outputs, const std::vector<Tensor<T>>& inputs,
                            const std::vector<Tensor<T>>& grad_outputs = {}, GradOptions options = {});

// The tensors that root depends on and that require a gradient, each after all of its inputs
// (root last). Iterative, so a chain of any length works.
template <class T>
std::vector<TensorImpl<T>*> topological_order(const Tensor<T>& root);
template <class T>
std::vector<TensorImpl<T>*> topological_order(const std::vector<Tensor<T>>& roots);

}  // namespace tg
