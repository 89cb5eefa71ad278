#include "core/engine.hpp"

#include <fmt/format.h>

#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace tg {

template <class T>
std::vector<TensorImpl<T>*> topological_order(const Tensor<T>& root) {
    std::vector<TensorImpl<T>*> order;
    std::unordered_set<TensorImpl<T>*> visited;
    // Depth-first with an explicit stack of (tensor, index of the next input to visit): a tensor
    // is emitted after all of its inputs (post-order).
    std::vector<std::pair<TensorImpl<T>*, std::size_t>> stack;
    stack.emplace_back(root.impl().get(), 0);
    visited.insert(root.impl().get());
    while (!stack.empty()) {
        auto& [t, next] = stack.back();
        if (t->grad_fn && next < t->grad_fn->inputs.size()) {
            TensorImpl<T>* in = t->grad_fn->inputs[next++].get();
            if (in->requires_grad && visited.insert(in).second) {
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

template <class T>
void accumulate(Array<T>& into, bool& has, Array<T>&& g) {
    if (has) {
        into += g;
    } else {
        into = std::move(g);
        has = true;
    }
}

}  // namespace

template <class T>
void run_backward(const Tensor<T>& root, std::optional<Array<T>> seed, BackwardOptions options,
                  BackwardObserver<T>* observer) {
    if (!root.requires_grad()) {
        throw GraphError(
            "backward: this tensor does not require a gradient and was not made from one that "
            "does; create the inputs with requires_grad = true (and outside a NoGradGuard)");
    }
    if (!seed) {
        if (root.numel() != 1) {
            throw GraphError(fmt::format(
                "backward: a gradient can only be implied for a one-element output; expected 1 "
                "element, got shape {}. Pass the seed dL/d(output) of that shape",
                shape_str(root.shape())));
        }
        seed = Array<T>(xt::ones<T>(root.value().shape()));
    } else if (to_shape(seed->shape()) != root.shape()) {
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

    std::unordered_map<const TensorImpl<T>*, std::size_t> index;
    index.reserve(order.size());
    for (std::size_t i = 0; i < order.size(); ++i) {
        index.emplace(order[i], i);
    }
    // dL/dt for every tensor t of the graph, filled as the walk reaches it and freed once used.
    std::vector<Array<T>> grads(order.size());
    std::vector<char> has(order.size(), 0);
    grads.back() = std::move(*seed);
    has.back() = 1;

    for (std::size_t k = order.size(); k-- > 0;) {
        TensorImpl<T>* t = order[k];
        if (!has[k]) {
            continue;  // nothing flowed here (an op declared no gradient for it)
        }
        Array<T> g = std::move(grads[k]);
        if (!t->grad_fn) {  // a leaf: its gradient is final
            bool had = t->has_grad;
            accumulate(t->grad, had, std::move(g));
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
        for (std::size_t i = 0; i < node.inputs.size(); ++i) {
            if (!node.inputs[i]->requires_grad) {
                continue;
            }
            const Shape got = to_shape(contributions[i].shape());
            if (got != node.input_shapes[i]) {
                throw ShapeError(fmt::format(
                    "backward of '{}': the gradient for input {} has the wrong shape; expected "
                    "{}, got {}",
                    node.op, i, shape_str(node.input_shapes[i]), shape_str(got)));
            }
        }
        if (observer) {
            observer->on_node(*t, node, g, contributions);
        }
        for (std::size_t i = 0; i < node.inputs.size(); ++i) {
            if (!node.inputs[i]->requires_grad) {
                continue;
            }
            const std::size_t j = index.at(node.inputs[i].get());
            bool h = has[j] != 0;
            accumulate(grads[j], h, std::move(contributions[i]));
            has[j] = h ? 1 : 0;
        }
        if (!options.retain_graph) {
            node.release();
        }
    }
}

template <class T>
void Tensor<T>::backward(BackwardOptions options) const {
    run_backward<T>(*this, std::nullopt, options);
}

template <class T>
void Tensor<T>::backward(const Array<T>& seed, BackwardOptions options) const {
    run_backward<T>(*this, seed, options);
}

template std::vector<TensorImpl<float>*> topological_order(const Tensor<float>&);
template std::vector<TensorImpl<double>*> topological_order(const Tensor<double>&);
template void run_backward(const Tensor<float>&, std::optional<Array<float>>, BackwardOptions,
                           BackwardObserver<float>*);
template void run_backward(const Tensor<double>&, std::optional<Array<double>>, BackwardOptions,
                           BackwardObserver<double>*);
template void Tensor<float>::backward(BackwardOptions) const;
template void Tensor<double>::backward(BackwardOptions) const;
template void Tensor<float>::backward(const Array<float>&, BackwardOptions) const;
template void Tensor<double>::backward(const Array<double>&, BackwardOptions) const;

}  // namespace tg
