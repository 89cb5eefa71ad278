#include "core/engine.hpp"

#include "core/anomaly.hpp"
#include "core/parallel.hpp"
#include "core/pass.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>
#include <utility>

namespace tg {

namespace {

template <class S>
bool same_shape(const S& got, const Shape& want) {
    return got.size() == want.size() && std::equal(got.begin(), got.end(), want.begin());
}

}  // namespace

template <class T>
std::vector<TensorImpl<T>*> topological_order(const std::vector<Tensor<T>>& roots) {
    std::vector<TensorImpl<T>*> order;
    std::vector<std::pair<TensorImpl<T>*, std::size_t>> stack;
    sort_into(roots, order, stack, [](TensorImpl<T>*, std::uint64_t) {});
    return order;
}

template <class T>
std::vector<TensorImpl<T>*> topological_order(const Tensor<T>& root) {
    return topological_order(std::vector<Tensor<T>>{root});
}

namespace {

// ---- the duties of a backward pass, in the order the loop below performs them ----------------

// dL/d(root) for each root: the caller's, or 1 for a one-element root; refuses a root that no
// gradient can reach and a seed of the wrong shape.
template <class T>
std::vector<Tensor<T>> seeds_for(const char* who, const std::vector<Tensor<T>>& roots,
                                 const std::vector<Tensor<T>>& given) {
    if (!given.empty() && given.size() != roots.size()) {
        throw ValueError(fmt::format("{}: got {} gradients for {} outputs; give one per output, or none for "
                                     "one-element outputs", who, given.size(), roots.size()));
    }
    std::vector<Tensor<T>> seeds;
    for (std::size_t i = 0; i < roots.size(); ++i) {
        const Tensor<T>& root = roots[i];
        if (!root.requires_grad()) {
            throw GraphError(fmt::format(
                "{}: this tensor does not require a gradient and was not made from one that "
                "does; create the inputs with requires_grad = true (and outside a NoGradGuard)",
                who));
        }
        if (!given.empty()) {
            if (!same_shape(given[i].shape(), root.shape())) {
                throw ShapeError(fmt::format(
                    "{}: the seed gradient must have the output's shape; expected {}, got {}", who,
                    shape_str(root.shape()), shape_str(given[i].shape())));
            }
            seeds.push_back(given[i]);
        } else if (root.numel() != 1) {
            throw GraphError(fmt::format(
                "{}: a gradient can only be implied for a one-element output; expected 1 "
                "element, got shape {}. Pass the seed dL/d(output) of that shape",
                who, shape_str(root.shape())));
        } else {
            seeds.push_back(Tensor<T>::ones(root.shape()));
        }
    }
    return seeds;
}

// Each tensor as the sort reaches it, before the pass touches any gradient: cleared of anything a
// pass that threw half-way left behind; its node refused if a backward without retain_graph freed
// its saved tensors; and its node counted, since a node that made several outputs is reached
// once per output and may only be released after the last of them.
template <class T>
void make_ready(TensorImpl<T>* t, std::uint64_t pass) {
    t->marks.pending.reset();
    Node<T>* node = t->grad_fn.get();
    if (!node) {
        return;
    }
    if (node->released) {
        throw GraphError(fmt::format(
            "backward: trying to backward through the graph a second time; the saved tensors "
            "of '{}' were freed by the first backward. Set retain_graph = true in the first "
            "backward's options (BackwardOptions options; options.retain_graph = true;) if you need "
            "to run it twice",
            node->op));
    }
    if (node->marks.pass != pass) {
        node->marks.pass = pass;
        node->marks.runs_left = 0;
    }
    ++node->marks.runs_left;
}

// a + b for two gradients of one tensor, as a recorded op (used under create_graph): the sum
// passes its gradient through to both.
template <class T>
Tensor<T> sum_of(const Tensor<T>& a, const Tensor<T>& b) {
    Tensor<T> out(Array<T>(a.value() + b.value()));
    return record<T>(out, "add", {a, b}, {}, "d(a+b)/da = g, d(a+b)/db = g",
                     [](const Node<T>&, const Tensor<T>& g) { return grads<T>(g, g); });
}

// into += g. Under create_graph the sum is an add op, recorded like any other. Otherwise in place
// when `into` is ours alone (across threads for large gradients), and a new array when its values
// are shared: a rule may pass g through unchanged (add's rule gives g to both inputs), so one
// gradient can sit in several slots, and must never be changed under another's feet.
template <class T>
void accumulate(std::shared_ptr<TensorImpl<T>>& into, const Tensor<T>& g, bool create_graph) {
    if (!into) {
        into = g.impl();
        return;
    }
    const Tensor<T> have = Tensor<T>::from_impl(into);
    if (create_graph) {
        into = sum_of(have, g).impl();
        return;
    }
    const bool alone = into.use_count() == 2 && into->data.use_count() == 1;  // `have` is the other
    if (!alone || !same_shape(into->value().shape(), g.shape())) {
        into = Tensor<T>(Array<T>(have.value() + g.value())).impl();
        return;
    }
    T* out = into->data->array.data();
    const T* in = g.value().data();
    const std::size_t n = g.numel();
    for_ranges(n, worth_sharing(n), [&](std::size_t begin, std::size_t end) {
#pragma omp simd
        for (std::size_t i = begin; i < end; ++i) {
            out[i] += in[i];
        }
    });
}

// Runs the node's rule (with gradient mode on only under create_graph, set by the caller).
template <class T>
Grads<T> call_rule(const Node<T>& node, const Tensor<T>& g) {
    const PauseForwardChecks checked_as_one;
    return node.backward(node, g);
}

// One gradient per input, each of the input's shape (PyTorch's validate_outputs); an input that
// needs a gradient may get none (Tensor::none()): then nothing flows to it from this node.
template <class T>
void validate(const Node<T>& node, const Grads<T>& grads) {
    if (grads.size() != node.inputs.size()) {
        throw GraphError(fmt::format(
            "backward of '{}': returned {} gradients for {} inputs; a backward function "
            "returns one gradient per input",
            node.op, grads.size(), node.inputs.size()));
    }
    for (std::size_t i = 0; i < node.inputs.size(); ++i) {
        if (node.inputs[i]->requires_grad && grads[i].defined() && !same_shape(grads[i].shape(), node.input_shapes[i])) {
            throw ShapeError(fmt::format(
                "backward of '{}': the gradient for input {} has the wrong shape; expected "
                "{}, got {}",
                node.op, i, shape_str(node.input_shapes[i]), shape_str(grads[i].shape())));
        }
    }
}

// For tg::grad: which tensors lie on a path to one of the wanted inputs (only their nodes run).
template <class T>
std::vector<bool> on_path_to(const std::vector<TensorImpl<T>*>& order,
                             const std::unordered_map<const TensorImpl<T>*, std::size_t>& wanted) {
    std::unordered_map<const TensorImpl<T>*, bool> leads;
    std::vector<bool> needed(order.size(), false);
    for (std::size_t k = 0; k < order.size(); ++k) {  // inputs come before their results
        const TensorImpl<T>* t = order[k];
        bool n = wanted.count(t) > 0;
        if (t->grad_fn) {
            for (const auto& in : t->grad_fn->inputs) {
                auto it = leads.find(in.get());
                n = n || (it != leads.end() && it->second);
            }
        }
        leads[t] = n;
        needed[k] = n;
    }
    return needed;
}

class GradModeGuard {
public:
    explicit GradModeGuard(bool enabled) : previous_(grad_enabled()) { set_grad_enabled(enabled); }
    ~GradModeGuard() { set_grad_enabled(previous_); }
    GradModeGuard(const GradModeGuard&) = delete;
    GradModeGuard& operator=(const GradModeGuard&) = delete;

private:
    bool previous_;
};

// Anomaly mode: a NaN or an infinity in what a rule returned stops the pass, naming the op.
template <class T>
void check_anomalies(const TensorImpl<T>& out, const Node<T>& node, const Grads<T>& contributions) {
    for (std::size_t i = 0; i < node.inputs.size(); ++i) {
        if (node.inputs[i]->requires_grad && contributions[i].defined()) {
            check_backward(out, node, i, contributions[i].value());
        }
    }
}

// The tensor's finished gradient g goes where the pass wants it: captured for tg::grad, or added
// into .grad of a leaf (or a tensor that retains its gradient) for backward().
template <class T>
void deliver(TensorImpl<T>& t, const Tensor<T>& g, Pass<T>& pass) {
    if (auto it = pass.wanted.find(&t); it != pass.wanted.end()) {
        pass.captured[it->second] = g;
    }
    if (pass.wanted.empty() && (!t.grad_fn || t.retains_grad)) {
        accumulate(t.grad, g, pass.create_graph);
        if (!t.grad_fn && pass.observer) {
            pass.observer->on_leaf(t, t.grad->value());
        }
    }
}

// The algorithm: order the graph, seed the roots, then walk it backwards; every tensor has all of
// its gradient when its turn comes, hands it to its node's rule, and the rule's answers are added
// into the node's inputs.
template <class T>
void run(const std::vector<Tensor<T>>& roots, const std::vector<Tensor<T>>& seeds, Pass<T>& pass) {
    const SortBuffers<T> buffers;
    const std::vector<TensorImpl<T>*>& order = buffers.sort(roots, make_ready<T>);
    // tg::grad runs only the nodes on a path to a wanted input; backward runs them all
    const std::vector<bool> needed = pass.wanted.empty() ? std::vector<bool>() : on_path_to(order, pass.wanted);
    const GradModeGuard mode(pass.create_graph);  // the rules' ops record only under create_graph
    for (std::size_t i = 0; i < roots.size(); ++i) {
        accumulate(roots[i].impl()->marks.pending, seeds[i], pass.create_graph);
    }
    for (std::size_t k = order.size(); k-- > 0;) {
        prefetch_ahead(order, k);
        TensorImpl<T>* t = order[k];
        if (t->grad_fn) {
            --t->grad_fn->marks.runs_left;
        }
        if (!t->marks.pending || (!needed.empty() && !needed[k])) {
            t->marks.pending.reset();
            continue;  // nothing flowed here, or nothing wanted lies below
        }
        const Tensor<T> g = Tensor<T>::from_impl(std::move(t->marks.pending));
        deliver(*t, g, pass);
        if (!t->grad_fn) {
            continue;  // a leaf: nothing below it
        }
        Node<T>& node = *t->grad_fn;
        const Grads<T> contributions = call_rule(node, g);
        validate(node, contributions);
        if (anomaly_enabled()) {
            check_anomalies(*t, node, contributions);
        }
        if (pass.observer) {
            pass.observer->on_node(*t, node, g, contributions);
        }
        for (std::size_t i = 0; i < node.inputs.size(); ++i) {
            if (node.inputs[i]->requires_grad && contributions[i].defined()) {
                accumulate(node.inputs[i]->marks.pending, contributions[i], pass.create_graph);
            }
        }
        if (!pass.retain_graph && node.marks.runs_left == 0) {
            node.release();  // its saved tensors are no longer needed
        }
    }
}

}  // namespace

template <class T>
void run_backward(const Tensor<T>& root, const Tensor<T>* seed, BackwardOptions options,
                  BackwardObserver<T>* observer) {
    std::vector<Tensor<T>> given;
    if (seed) {
        given.push_back(*seed);  // shares its values: the engine copies before it adds in place
    }
    const std::vector<Tensor<T>> roots{root};
    const std::vector<Tensor<T>> seeds = seeds_for<T>("backward", roots, given);
    Pass<T> pass;
    pass.create_graph = options.create_graph;
    pass.retain_graph = options.retain_graph.value_or(options.create_graph);
    pass.observer = observer;
    run(roots, seeds, pass);
}

template <class T>
std::vector<Tensor<T>> grad(const std::vector<Tensor<T>>& outputs, const std::vector<Tensor<T>>& inputs,
                            const std::vector<Tensor<T>>& grad_outputs, GradOptions options) {
    const std::vector<Tensor<T>> seeds = seeds_for<T>("grad", outputs, grad_outputs);
    Pass<T> pass;
    pass.create_graph = options.create_graph;
    pass.retain_graph = options.retain_graph.value_or(options.create_graph);
    pass.captured.assign(inputs.size(), Tensor<T>::none());
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        if (!inputs[i].requires_grad()) {
            throw GraphError(fmt::format(
                "grad: input {} does not require a gradient; create it with requires_grad = true", i));
        }
        if (!pass.wanted.emplace(inputs[i].impl().get(), i).second) {
            throw ValueError(fmt::format("grad: input {} is given twice; list each tensor once", i));
        }
    }
    run(outputs, seeds, pass);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        if (!pass.captured[i].defined() && !options.allow_unused) {
            throw GraphError(fmt::format(
                "grad: input {}{} was not used to compute the outputs, so it has no gradient; set "
                "allow_unused = true in its options (GradOptions options; options.allow_unused = true;) "
                "to get Tensor::none() for it",
                i, inputs[i].name().empty() ? "" : " ('" + inputs[i].name() + "')"));
        }
    }
    return std::move(pass.captured);
}

template <class T>
void Tensor<T>::backward(BackwardOptions options) const {
    run_backward<T>(*this, nullptr, options);
}

template <class T>
void Tensor<T>::backward(const Array<T>& seed, BackwardOptions options) const {
    const Tensor<T> as_tensor(seed);
    run_backward<T>(*this, &as_tensor, options);
}

template <class T>
void Tensor<T>::backward(const Tensor<T>& seed, BackwardOptions options) const {
    run_backward<T>(*this, &seed, options);
}

#define TG_INSTANTIATE(T)                                                                                       \
    template std::vector<TensorImpl<T>*> topological_order(const Tensor<T>&);                                   \
    template std::vector<TensorImpl<T>*> topological_order(const std::vector<Tensor<T>>&);                      \
    template void run_backward(const Tensor<T>&, const Tensor<T>*, BackwardOptions, BackwardObserver<T>*);       \
    template std::vector<Tensor<T>> grad(const std::vector<Tensor<T>>&, const std::vector<Tensor<T>>&,          \
                                         const std::vector<Tensor<T>>&, GradOptions);                          \
    template void Tensor<T>::backward(BackwardOptions) const;                                                   \
    template void Tensor<T>::backward(const Array<T>&, BackwardOptions) const;                               \
    template void Tensor<T>::backward(const Tensor<T>&, BackwardOptions) const;
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg
