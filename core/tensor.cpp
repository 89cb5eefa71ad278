#include "core/tensor.hpp"

#include "core/pool.hpp"
#include "core/prefetch.hpp"

#include "core/anomaly.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <numeric>
#include <unordered_set>

namespace tg {

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

std::size_t shape_numel(const Shape& shape) {
    return std::accumulate(shape.begin(), shape.end(), std::size_t{1}, std::multiplies<>());
}

namespace {
thread_local bool grad_mode = true;
}  // namespace

bool grad_enabled() { return grad_mode; }
void set_grad_enabled(bool enabled) { grad_mode = enabled; }

// ---- Node -----------------------------------------------------------------------------------

template <class T>
const Array<T>& Node<T>::saved_value(std::size_t i) const {
    if (released) {
        throw GraphError(fmt::format(
            "{}: trying to backward through the graph a second time; its saved tensors were freed "
            "by the first backward. Set retain_graph = true in the first backward's options "
            "(BackwardOptions options; options.retain_graph = true;) if you need to run it twice",
            op));
    }
    const SavedTensor<T>& s = saved_tensors.at(i);
    if (s.storage->version != s.version) {
        throw GraphError(fmt::format(
            "{}: a tensor needed for the gradient was modified in place after it was saved "
            "(saved at version {}, now at version {}); run the forward again after changing it",
            op, s.version, s.storage->version));
    }
    return s.storage->array;
}

template <class T>
Tensor<T> Node<T>::saved(std::size_t i) const {
    const Array<T>& value = saved_value(i);  // checks that it is still there, unchanged
    const SavedTensor<T>& s = saved_tensors[i];
    if (grad_enabled() && s.input >= 0 && inputs[static_cast<std::size_t>(s.input)]->data == s.storage) {
        return Tensor<T>::from_impl(inputs[static_cast<std::size_t>(s.input)]);
    }
    auto impl = pool::make_shared<TensorImpl<T>>();
    impl->data = std::const_pointer_cast<Storage<T>>(s.storage);
    if (grad_enabled() && s.output) {
        // The output, rebuilt around the same values and this node: the saved copy cannot hold
        // the output itself, whose grad_fn is this node (a cycle that would never be freed).
        impl->grad_fn = std::const_pointer_cast<Node<T>>(this->shared_from_this());
        impl->requires_grad = true;
    }
    (void)value;  // read only for its checks
    return Tensor<T>::from_impl(std::move(impl));
}

template <class T>
std::size_t Node<T>::saved_bytes() const {
    std::unordered_set<const Storage<T>*> seen;
    std::size_t bytes = captured_bytes;
    for (const auto& s : saved_tensors) {
        if (s.storage && seen.insert(s.storage.get()).second) {
            bytes += s.storage->array.size() * sizeof(T);
        }
    }
    return bytes;
}

template <class T>
void Node<T>::release() {
    saved_tensors.clear();
    backward = nullptr;  // its captures may hold arrays too
    captured_bytes = 0;
    released = true;
}

template <class T>
Node<T>::~Node() {
    // If we hold the last reference to an input, adopt its parents before it dies, so that its
    // node is destroyed with no inputs left and the recursion never starts.
    std::vector<std::shared_ptr<TensorImpl<T>>> pending;
    const auto adopt_parents = [&pending](std::shared_ptr<TensorImpl<T>>& impl) {
        if (impl.use_count() == 1 && impl->grad_fn && impl->grad_fn.use_count() == 1) {
            for (auto& p : impl->grad_fn->inputs) {
                prefetch(p.get());  // its reference count is read soon (core/prefetch.hpp)
                pending.push_back(std::move(p));
            }
            impl->grad_fn->inputs.clear();
        }
    };
    for (auto& in : inputs) {
        adopt_parents(in);
    }
    while (!pending.empty()) {
        std::shared_ptr<TensorImpl<T>> impl = std::move(pending.back());
        pending.pop_back();
        adopt_parents(impl);
    }
}

// ---- Tensor ---------------------------------------------------------------------------------

template <class T>
Tensor<T>::Tensor() : Tensor(Array<T>(T(0))) {}

template <class T>
Tensor<T>::Tensor(Array<T> value, bool requires_grad) : impl_(pool::make_shared<TensorImpl<T>>()) {
    impl_->data = pool::make_shared<Storage<T>>();
    impl_->data->array = std::move(value);
    impl_->requires_grad = requires_grad;
}

template <class T>
Tensor<T> Tensor<T>::scalar(T value, bool requires_grad) {
    return Tensor(Array<T>(value), requires_grad);
}

template <class T>
Tensor<T> Tensor<T>::zeros(const Shape& shape, bool requires_grad) {
    return Tensor(Array<T>(xt::zeros<T>(shape)), requires_grad);
}

template <class T>
Tensor<T> Tensor<T>::ones(const Shape& shape, bool requires_grad) {
    return Tensor(Array<T>(xt::ones<T>(shape)), requires_grad);
}

template <class T>
Tensor<T> Tensor<T>::from_impl(std::shared_ptr<TensorImpl<T>> impl) {
    Tensor t{NoImpl{}};
    t.impl_ = std::move(impl);
    return t;
}

template <class T>
Tensor<T> Tensor<T>::none() {
    return Tensor{NoImpl{}};
}

template <class T>
Array<T>& Tensor<T>::mutable_value() {
    ++impl_->data->version;
    return impl_->data->array;
}

template <class T>
T Tensor<T>::item() const {
    if (numel() != 1) {
        throw ShapeError(fmt::format(
            "item: only a one-element tensor converts to a number; expected 1 element, got shape {}",
            shape_str(shape())));
    }
    return *value().begin();
}

template <class T>
Tensor<T>& Tensor<T>::set_requires_grad(bool requires_grad) {
    if (!is_leaf()) {
        throw GraphError(fmt::format(
            "set_requires_grad: only leaves can be marked; this tensor was made by '{}'. Use "
            "detach() to make a leaf from it",
            impl_->grad_fn->op));
    }
    impl_->requires_grad = requires_grad;
    return *this;
}

template <class T>
const Array<T>& Tensor<T>::grad() const {
    if (!impl_->grad) {
        const std::string who = name().empty() ? std::string("this tensor") : "'" + name() + "'";
        if (!requires_grad()) {
            throw GraphError(fmt::format(
                "grad: {} does not require a gradient; create it with requires_grad = true",
                who));
        }
        if (!is_leaf() && !retains_grad()) {
            throw GraphError(fmt::format(
                "grad: {} is an intermediate result of '{}' and its gradient is freed after use; "
                "call retain_grad() on it before backward",
                who, impl_->grad_fn->op));
        }
        throw GraphError(fmt::format(
            "grad: {} has no gradient yet; run backward() on a result computed from it", who));
    }
    return impl_->grad->data->array;
}

template <class T>
Tensor<T> Tensor<T>::grad_tensor() const {
    grad();  // the same checks and messages
    return from_impl(impl_->grad);
}

template <class T>
void Tensor<T>::zero_grad() {
    impl_->grad.reset();
}

template <class T>
Tensor<T>& Tensor<T>::retain_grad() {
    impl_->retains_grad = true;
    return *this;
}

template <class T>
Tensor<T> Tensor<T>::named(std::string name) const {
    impl_->name = std::move(name);
    return *this;
}

template <class T>
Tensor<T> Tensor<T>::detach() const {
    auto impl = pool::make_shared<TensorImpl<T>>();
    impl->data = impl_->data;  // shares the values, not the history
    impl->name = impl_->name;
    return from_impl(std::move(impl));
}

// ---- record ---------------------------------------------------------------------------------

template <class T>
Tensor<T> record(Tensor<T> out, const char* op, TensorList<T> inputs, TensorList<T> saved, const char* rule,
                 BackwardFn<T> backward) {
    if (anomaly_enabled() && !forward_checks_paused()) {
        check_forward(op, out.value(), inputs);
    }
    if (!grad_enabled()) {
        return out;
    }
    bool any = false;
    for (const auto& in : inputs) {
        any = any || in.requires_grad();
    }
    if (!any) {
        return out;
    }
    auto node = pool::make_shared<Node<T>>();
    node->op = op;
    node->rule = rule;
    node->inputs.reserve(inputs.size());
    node->input_shapes.reserve(inputs.size());
    for (const auto& in : inputs) {
        node->inputs.push_back(in.impl());
        node->input_shapes.push_back(in.shape());
    }
    node->saved_tensors.reserve(saved.size());
    for (const auto& s : saved) {
        SavedTensor<T> entry{s.impl()->data, s.impl()->data->version};
        for (std::size_t i = 0; i < inputs.size(); ++i) {
            if (inputs[i].impl() == s.impl()) {
                entry.input = static_cast<int>(i);
            }
        }
        entry.output = s.impl() == out.impl();
        node->saved_tensors.push_back(std::move(entry));
    }
    node->backward = std::move(backward);
    out.impl()->grad_fn = std::move(node);
    out.impl()->requires_grad = true;
    return out;
}

template class Tensor<float>;
template class Tensor<double>;
template struct Node<float>;
template struct Node<double>;
template Tensor<float> record(Tensor<float>, const char*, TensorList<float>, TensorList<float>, const char*,
                              BackwardFn<float>);
template Tensor<double> record(Tensor<double>, const char*, TensorList<double>, TensorList<double>, const char*,
                               BackwardFn<double>);

}  // namespace tg
