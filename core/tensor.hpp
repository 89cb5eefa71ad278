// Tensor<T>: a value, its gradient, and the tape node that made it.
//
// A Tensor is a handle (like a PyTorch tensor): copies share one TensorImpl. The tape is not a
// global list but the graph itself: each result of an op points to its Node, and each Node to the
// tensors it was computed from. backward() walks that graph in reverse topological order.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/xt.hpp"

namespace tg {

template <class T>
class Tensor;
template <class T>
struct Node;

// The array behind a tensor, with a version counter that every in-place change bumps, so that a
// node can tell when a tensor it saved was overwritten between forward and backward.
template <class T>
struct Storage {
    Array<T> array;
    std::uint64_t version = 0;
};

template <class T>
struct TensorImpl {
    std::shared_ptr<Storage<T>> data;
    Array<T> grad;
    bool has_grad = false;
    bool requires_grad = false;
    bool retains_grad = false;
    std::string name;
    std::shared_ptr<Node<T>> grad_fn;  // empty for leaves

    // The engine's scratch space during one backward pass (core/engine.cpp): the gradient that has
    // arrived so far, and which pass last visited this tensor. Kept here rather than in side
    // tables so that a pass allocates nothing per tensor beyond the gradients themselves.
    Array<T> pending;
    bool has_pending = false;
    std::uint64_t visit = 0;
};

// What a node keeps for its backward: a tensor's storage and the version it had when saved.
template <class T>
struct SavedTensor {
    std::shared_ptr<const Storage<T>> storage;
    std::uint64_t version = 0;
};

template <class T>
using Grads = std::vector<Array<T>>;

// A backward rule's result, the gradients moved in (a braced Grads<T>{...} would copy each one,
// its initializer list being const): return grads<T>(std::move(da), std::move(db)).
template <class T, class... G>
Grads<T> grads(G&&... g) {
    Grads<T> out;
    out.reserve(sizeof...(G));
    (out.emplace_back(std::forward<G>(g)), ...);
    return out;
}

// A backward function receives its node (for saved tensors, input shapes and which inputs need a
// gradient) and the gradient of the loss with respect to the node's output. It returns one
// gradient per input, each of that input's shape; entries for inputs that need no gradient are
// ignored and may be left empty.
template <class T>
using BackwardFn = std::function<Grads<T>(const Node<T>& node, const Array<T>& grad)>;

// One entry of the tape.
template <class T>
struct Node {
    const char* op = "";    // PyTorch's name for the op: "add", "mean", "matmul"
    const char* rule = "";  // the derivative it applies, for traces: "d(a/b)/db = -g*a/b^2"
    std::vector<std::shared_ptr<TensorImpl<T>>> inputs;
    std::vector<Shape> input_shapes;
    std::vector<SavedTensor<T>> saved;
    BackwardFn<T> backward;
    std::size_t captured_bytes = 0;  // arrays the backward function holds itself (set by the op)
    bool released = false;  // saved tensors freed by a backward without retain_graph
    // The input whose gradient is the output's gradient itself (a in a + b and a - b, when a has
    // the output's shape), or -1. The backward function returns an empty array for it and the
    // engine moves the output's gradient there: no copy of a whole tensor per add or sub.
    int identity_input = -1;
    // What the op name alone does not say, for traces and drawings: pow's exponent ("2"), the
    // axes and count of a reduction ("axes [0], n = 4"). Empty for most ops.
    std::string detail;

    bool needs_grad(std::size_t i) const { return inputs[i]->requires_grad; }
    const Shape& input_shape(std::size_t i) const { return input_shapes[i]; }
    // The i-th saved value; throws GraphError if it was freed or modified in place since.
    const Array<T>& saved_value(std::size_t i) const;
    // Bytes held for backward: the saved tensors (each storage counted once) and captured arrays.
    std::size_t saved_bytes() const;
    // Frees what backward needed; a later backward through this node throws.
    void release();

    Node() = default;
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;
    // Tears a long chain down iteratively: the default destructor would recurse once per node
    // and overflow the stack on a 200,000-node graph.
    ~Node();
};

// Gradient mode: while off (inside a NoGradGuard), ops record nothing.
bool grad_enabled();
void set_grad_enabled(bool enabled);

class NoGradGuard {
public:
    NoGradGuard() : previous_(grad_enabled()) { set_grad_enabled(false); }
    ~NoGradGuard() { set_grad_enabled(previous_); }
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

private:
    bool previous_;
};

struct BackwardOptions {
    bool retain_graph = false;  // keep saved tensors so that backward can run again
};

template <class T>
class Tensor {
public:
    using value_type = T;

    Tensor();  // a 0-d zero, for containers and members
    explicit Tensor(Array<T> value, bool requires_grad = false);
    static Tensor scalar(T value, bool requires_grad = false);
    static Tensor zeros(const Shape& shape, bool requires_grad = false);
    static Tensor ones(const Shape& shape, bool requires_grad = false);
    static Tensor from_impl(std::shared_ptr<TensorImpl<T>> impl);

    const Array<T>& value() const { return impl_->data->array; }
    // Write access for optimisers and initialisers: bumps the version, so a graph that saved
    // this tensor refuses to run backward on stale values.
    Array<T>& mutable_value();
    Shape shape() const { return to_shape(value().shape()); }
    std::size_t dim() const { return value().dimension(); }
    std::size_t numel() const { return value().size(); }
    T item() const;  // the value of a one-element tensor

    bool requires_grad() const { return impl_->requires_grad; }
    // Marks a leaf as a parameter whose gradient backward should compute.
    Tensor& set_requires_grad(bool requires_grad = true);
    bool is_leaf() const { return !impl_->grad_fn; }

    bool has_grad() const { return impl_->has_grad; }
    // dL/d(this) after backward; throws GraphError naming the fix if there is none.
    const Array<T>& grad() const;
    void zero_grad();  // forgets the gradient (like PyTorch's set_to_none)
    // Keeps dL/d(this) for a non-leaf, which backward otherwise frees once used.
    Tensor& retain_grad();
    bool retains_grad() const { return impl_->retains_grad; }

    const std::string& name() const { return impl_->name; }
    // Names the tensor for drawings and traces ("mu", "xhat") and returns it.
    Tensor named(std::string name) const;

    // The same values, cut off from the tape: no gradient flows through the result.
    Tensor detach() const;

    void backward(BackwardOptions options = {}) const;
    void backward(const Array<T>& seed, BackwardOptions options = {}) const;

    const std::shared_ptr<Node<T>>& grad_fn() const { return impl_->grad_fn; }
    const std::shared_ptr<TensorImpl<T>>& impl() const { return impl_; }

private:
    std::shared_ptr<TensorImpl<T>> impl_;
};

// Records `out` as the result of an op on `inputs` if gradient mode is on and any input requires
// a gradient; otherwise returns `out` untouched and saves nothing. `saved` lists the tensors the
// backward function reads through node.saved_value(i).
template <class T>
Tensor<T> record(Tensor<T> out, const char* op, std::vector<Tensor<T>> inputs,
                 std::vector<Tensor<T>> saved, const char* rule, BackwardFn<T> backward);

extern template class Tensor<float>;
extern template class Tensor<double>;
extern template struct Node<float>;
extern template struct Node<double>;

}  // namespace tg
