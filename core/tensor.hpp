// Tensor<T>: a value, its gradient, and the tape node that made it.
//
// A Tensor is a handle (like a PyTorch tensor): copies share one TensorImpl. The tape is not a
// global list but the graph itself: each result of an op points to its Node, and each Node to the
// tensors it was computed from. backward() walks that graph in reverse topological order.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/marks.hpp"
#include "core/small_vector.hpp"
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
    std::shared_ptr<Node<T>> grad_fn;  // empty for leaves
    TensorMarks<T> marks;  // the backward pass's, kept beside grad_fn (core/marks.hpp)
    bool requires_grad = false;
    bool retains_grad = false;

    std::shared_ptr<Storage<T>> data;
    // dL/d(this) after backward: itself a tensor, which has a history of its own when backward
    // ran with create_graph (so that it can be differentiated again). Empty until backward.
    std::shared_ptr<TensorImpl<T>> grad;
    std::string name;

    const Array<T>& value() const { return data->array; }
};

// What a node keeps for its backward: a tensor's storage and the version it had when saved, and
// whether it was one of the node's inputs or its output (then, under create_graph, the backward
// rule gets it back with its history, so that the gradient it builds can be differentiated again).
template <class T>
struct SavedTensor {
    std::shared_ptr<const Storage<T>> storage;
    std::uint64_t version = 0;
    int input = -1;       // its position among the node's inputs, or -1
    bool output = false;  // the node's own result
};

template <class T>
using Grads = pool::Vector<Tensor<T>>;

// A backward rule's result, one gradient per input: return grads<T>(da, db). An input that needs
// no gradient gets Tensor<T>::none().
template <class T, class... G>
Grads<T> grads(G&&... g) {
    Grads<T> out;
    out.reserve(sizeof...(G));
    (out.emplace_back(std::forward<G>(g)), ...);
    return out;
}

// A backward rule receives its node (for saved tensors, input shapes and which inputs need a
// gradient) and g = dL/d(output), and returns one gradient per input, each of that input's shape.
//
// Note: a rule is written once, with tensor ops (mul, div, sum_to, ...). The engine runs it with
// gradient mode off for an ordinary backward, so those ops only compute; with create_graph it
// runs it with gradient mode on, so the same ops record the gradient's own graph, which can then
// be differentiated again, to any order.
template <class T>
using BackwardFn = std::function<Grads<T>(const Node<T>& node, const Tensor<T>& g)>;

// One entry of the tape.
template <class T>
struct Node : std::enable_shared_from_this<Node<T>> {
    // One or two for almost every op: kept inside the node (core/small_vector.hpp), and first,
    // with the backward pass's marks, so that a pass finds them in the node's first cache lines.
    SmallVector<std::shared_ptr<TensorImpl<T>>, 2> inputs;
    NodeMarks marks;  // core/marks.hpp
    bool released = false;  // saved tensors freed by a backward without retain_graph
    const char* op = "";    // PyTorch's name for the op: "add", "mean", "matmul"
    const char* rule = "";  // the derivative it applies, for traces: "d(a/b)/db = -g*a/b^2"
    SmallVector<Shape, 2> input_shapes;
    SmallVector<SavedTensor<T>, 2> saved_tensors;
    BackwardFn<T> backward;
    std::size_t captured_bytes = 0;  // arrays the backward function holds itself (set by the op)
    // What the op name alone does not say, for traces and drawings: pow's exponent ("2"), the
    // axes and count of a reduction ("axes [0], n = 4"). Empty for most ops.
    std::string detail;

    bool needs_grad(std::size_t i) const { return inputs[i]->requires_grad; }
    const Shape& input_shape(std::size_t i) const { return input_shapes[i]; }
    // The i-th saved value; throws GraphError if it was freed or modified in place since.
    const Array<T>& saved_value(std::size_t i) const;
    // The same as a tensor for the rule's ops: with its history when gradient mode is on (under
    // create_graph) and it was an input or the output, a plain constant otherwise.
    Tensor<T> saved(std::size_t i) const;
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
    // Keep saved tensors so that backward can run again; unset means "as create_graph" (PyTorch's
    // default: a gradient graph will usually be differentiated, which needs the saved tensors).
    std::optional<bool> retain_graph;
    // Record the gradient computation itself, so that the gradients can be differentiated again.
    //
    // Note: as in PyTorch, a .grad left by such a backward holds a graph that holds the tensor it
    // belongs to (x.grad = 2*x refers to x): a reference cycle, never freed on its own. Call
    // x.zero_grad() on every tensor that got a gradient once you are done with it, or use
    // tg::grad, which writes no .grad.
    bool create_graph = false;
};

struct GradOptions {
    std::optional<bool> retain_graph;  // as in BackwardOptions
    bool create_graph = false;
    // An input the outputs do not depend on gets Tensor::none() instead of an error.
    bool allow_unused = false;
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
    // No tensor at all: a backward rule's answer for an input that needs no gradient, and
    // tg::grad's for an unused input with allow_unused. Only defined() may be asked of it.
    static Tensor none();
    bool defined() const { return impl_ != nullptr; }

    const Array<T>& value() const { return impl_->data->array; }
    // Write access for optimisers and initialisers: bumps the version, so a graph that saved
    // this tensor refuses to run backward on stale values.
    Array<T>& mutable_value();
    const Shape& shape() const { return value().shape(); }
    std::size_t dim() const { return value().dimension(); }
    std::size_t numel() const { return value().size(); }
    T item() const;  // the value of a one-element tensor

    bool requires_grad() const { return impl_->requires_grad; }
    // Marks a leaf as a parameter whose gradient backward should compute.
    Tensor& set_requires_grad(bool requires_grad = true);
    bool is_leaf() const { return !impl_->grad_fn; }

    bool has_grad() const { return impl_->grad != nullptr; }
    // dL/d(this) after backward; throws GraphError naming the fix if there is none.
    const Array<T>& grad() const;
    // The same as a tensor: after backward with create_graph it has a history, so that a function
    // of it (a gradient penalty) can be differentiated again.
    Tensor grad_tensor() const;
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
    // seed = dL/d(this), of this tensor's shape. As an Array it is copied once; as a Tensor its
    // values are shared (PyTorch's backward(gradient)), which saves the copy on large outputs.
    void backward(const Array<T>& seed, BackwardOptions options = {}) const;
    void backward(const Tensor<T>& seed, BackwardOptions options = {}) const;

    const std::shared_ptr<Node<T>>& grad_fn() const { return impl_->grad_fn; }
    const std::shared_ptr<TensorImpl<T>>& impl() const { return impl_; }

private:
    struct NoImpl {};
    explicit Tensor(NoImpl) {}
    std::shared_ptr<TensorImpl<T>> impl_;
};

// The tensors an op hands to record(): a braced list ({a, b}) or a vector, read in place (no copy
// of the list: it lives until record() returns).
template <class T>
class TensorList {
public:
    TensorList() = default;
    TensorList(std::initializer_list<Tensor<T>> list) : list_(list) {}
    TensorList(const std::vector<Tensor<T>>& vector) : vector_(&vector) {}
    const Tensor<T>* begin() const { return vector_ ? vector_->data() : list_.begin(); }
    const Tensor<T>* end() const { return begin() + size(); }
    std::size_t size() const { return vector_ ? vector_->size() : list_.size(); }
    const Tensor<T>& operator[](std::size_t i) const { return begin()[i]; }

private:
    std::initializer_list<Tensor<T>> list_;
    const std::vector<Tensor<T>>* vector_ = nullptr;
};

// Records `out` as the result of an op on `inputs` if gradient mode is on and any input requires
// a gradient; otherwise returns `out` untouched and saves nothing. `saved` lists the tensors the
// backward function reads through node.saved_value(i).
template <class T>
Tensor<T> record(Tensor<T> out, const char* op, TensorList<T> inputs, TensorList<T> saved, const char* rule,
                 BackwardFn<T> backward);

extern template class Tensor<float>;
extern template class Tensor<double>;
extern template struct Node<float>;
extern template struct Node<double>;

}  // namespace tg
