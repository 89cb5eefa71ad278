#include "core/engine.hpp"

#include "core/anomaly.hpp"
#include "core/parallel.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <utility>

namespace tg {

namespace {

// Each topological sort takes a fresh number and marks the tensors it reaches with it.
std::atomic<std::uint64_t> pass_counter{0};

}  // namespace

template <class T>
std::vector<TensorImpl<T>*> topological_order(const Tensor<T>& root) {
    const std::uint64_t pass = ++pass_counter;
    std::vector<TensorImpl<T>*> order;
    // Depth-first with an explicit stack of (tensor, index of the next input to visit): a tensor
    // is emitted after all of its inputs (post-order).
    std::vector<std::pair<TensorImpl<T>*, std::size_t>> stack;
    stack.emplace_back(root.impl().get(), 0);
    root.impl()->visit = pass;
    while (!stack.empty()) {
        auto& [t, next] = stack.back();
        if (t->grad_fn && next < t->grad_fn->inputs.size()) {
            TensorImpl<T>* in = t->grad_fn->inputs[next++].get();
            if (in->requires_grad && in->visit != pass) {
                in->visit = pass;
                stack.emplace_back(in, 0);
            }
        } else {
            order.push_back(t);
            stack.pop_back();
        }
    }
    return order;
}

namespace {

// into += g: for equal shapes (always, unless a leaf's value was replaced by one of another shape
// since its last backward) a plain loop, across threads for large gradients; xtensor's += runs on
// one thread.
template <class T>
void accumulate(Array<T>& into, bool& has, Array<T>&& g) {
    if (has && !std::equal(into.shape().begin(), into.shape().end(), g.shape().begin(), g.shape().end())) {
        into += g;
    } else if (has) {
        T* out = into.data();
        const T* in = g.data();
        for_ranges(into.size(), worth_sharing(into.size()), [&](std::size_t begin, std::size_t end) {
#pragma omp simd
            for (std::size_t i = begin; i < end; ++i) {
                out[i] += in[i];
            }
        });
    } else {
        into = std::move(g);
        has = true;
    }
}

template <class S>
bool same_shape(const S& got, const Shape& want) {
    return got.size() == want.size() && std::equal(got.begin(), got.end(), want.begin());
}

}  // namespace

template <class T>
void run_backward(const Tensor<T>& root, const Array<T>* seed, BackwardOptions options,
                  BackwardObserver<T>* observer) {
    if (!root.requires_grad()) {
        throw GraphError(
            "backward: this tensor does not require a gradient and was not made from one that "
            "does; create the inputs with requires_grad = true (and outside a NoGradGuard)");
    }
    std::optional<Array<T>> implied;
    if (!seed) {
        if (root.numel() != 1) {
            throw GraphError(fmt::format(
                "backward: a gradient can only be implied for a one-element output; expected 1 "
                "element, got shape {}. Pass the seed dL/d(output) of that shape",
                shape_str(root.shape())));
        }
        implied = Array<T>(xt::ones<T>(root.value().shape()));
        seed = &*implied;
    } else if (!same_shape(seed->shape(), root.shape())) {
        throw ShapeError(fmt::format(
            "backward: the seed gradient must have the output's shape; expected {}, got {}",
            shape_str(root.shape()), shape_str(to_shape(seed->shape()))));
    }

    const std::vector<TensorImpl<T>*> order = topological_order(root);
    // Refuse before touching any gradient, so that a failed call leaves everything as it was.
    for (const TensorImpl<T>* t : order) {
        if (t->grad_fn && t->grad_fn->released) {
            throw GraphError(fmt::format(
                "backward: trying to backward through the graph a second time; the saved tensors "
                "of '{}' were freed by the first backward. Pass BackwardOptions{{.retain_graph = "
                "true}} to the first backward if you need to run it twice",
                t->grad_fn->op));
        }
    }
    for (TensorImpl<T>* t : order) {
        if (t->has_pending) {  // left behind by a pass that threw half-way
            t->pending = Array<T>();
            t->has_pending = false;
        }
    }
    // In reverse order every tensor has received all of its gradient before its node runs. The
    // root's gradient is the caller's seed, read in place rather than copied.
    for (std::size_t k = order.size(); k-- > 0;) {
        TensorImpl<T>* t = order[k];
        const bool is_root = k + 1 == order.size();
        if (!is_root && !t->has_pending) {
            continue;  // nothing flowed here (an op declared no gradient for it)
        }
        Array<T> owned;
        if (!is_root) {
            owned = std::move(t->pending);  // leaves pending empty
            t->has_pending = false;
        } else if (!t->grad_fn || t->retains_grad) {
            owned = *seed;  // stored, so it must be a copy
        }
        const Array<T>& g = is_root && t->grad_fn ? *seed : owned;
        if (!t->grad_fn) {  // a leaf: its gradient is final
            bool had = t->has_grad;
            accumulate(t->grad, had, std::move(owned));
            t->has_grad = had;
            if (observer) {
                observer->on_leaf(*t, t->grad);
            }
            continue;
        }
        if (t->retains_grad) {
            bool had = t->has_grad;
            accumulate(t->grad, had, Array<T>(g));
            t->has_grad = had;
        }
        Node<T>& node = *t->grad_fn;
        Grads<T> contributions = node.backward(node, g);
        if (contributions.size() != node.inputs.size()) {
            throw GraphError(fmt::format(
                "backward of '{}': returned {} gradients for {} inputs; a backward function "
                "returns one gradient per input",
                node.op, contributions.size(), node.inputs.size()));
        }
        const Array<T>* g_now = &g;  // where the output's gradient is after a hand-over
        if (node.identity_input >= 0 && node.inputs[static_cast<std::size_t>(node.identity_input)]->requires_grad) {
            Array<T>& target = contributions[static_cast<std::size_t>(node.identity_input)];
            target = &g == &owned ? std::move(owned) : Array<T>(g);  // the caller's seed is copied
            g_now = &target;
        }
        for (std::size_t i = 0; i < node.inputs.size(); ++i) {
            if (node.inputs[i]->requires_grad && !same_shape(contributions[i].shape(), node.input_shapes[i])) {
                throw ShapeError(fmt::format(
                    "backward of '{}': the gradient for input {} has the wrong shape; expected "
                    "{}, got {}",
                    node.op, i, shape_str(node.input_shapes[i]), shape_str(to_shape(contributions[i].shape()))));
            }
        }
        if (anomaly_enabled()) {
            for (std::size_t i = 0; i < node.inputs.size(); ++i) {
                if (node.inputs[i]->requires_grad) {
                    check_backward(*t, node, i, contributions[i]);
                }
            }
        }
        if (observer) {
            observer->on_node(*t, node, *g_now, contributions);
        }
        for (std::size_t i = 0; i < node.inputs.size(); ++i) {
            TensorImpl<T>* in = node.inputs[i].get();
            if (in->requires_grad) {
                accumulate(in->pending, in->has_pending, std::move(contributions[i]));
            }
        }
        if (!options.retain_graph) {
            node.release();
        }
    }
}

template <class T>
void Tensor<T>::backward(BackwardOptions options) const {
    run_backward<T>(*this, nullptr, options);
}

template <class T>
void Tensor<T>::backward(const Array<T>& seed, BackwardOptions options) const {
    run_backward<T>(*this, &seed, options);
}

template std::vector<TensorImpl<float>*> topological_order(const Tensor<float>&);
template std::vector<TensorImpl<double>*> topological_order(const Tensor<double>&);
template void run_backward(const Tensor<float>&, const Array<float>*, BackwardOptions, BackwardObserver<float>*);
template void run_backward(const Tensor<double>&, const Array<double>*, BackwardOptions, BackwardObserver<double>*);
template void Tensor<float>::backward(BackwardOptions) const;
template void Tensor<double>::backward(BackwardOptions) const;
template void Tensor<float>::backward(const Array<float>&, BackwardOptions) const;
template void Tensor<double>::backward(const Array<double>&, BackwardOptions) const;

}  // namespace tg
