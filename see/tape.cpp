#include "see/tape.hpp"

#include <fmt/format.h>

#include <map>
#include <unordered_map>

namespace tg::see {

template <class T>
std::vector<TapeEntry<T>> tape_of(const Tensor<T>& root) {
    std::vector<TapeEntry<T>> tape;
    std::unordered_map<const TensorImpl<T>*, std::size_t> index;
    // Iterative post-order over every input, whether or not it requires a gradient. A node's
    // computed inputs are visited before its leaves, so that the tape starts from the data (X, not
    // gamma) and a parameter appears just before the op that uses it.
    std::vector<std::pair<std::shared_ptr<TensorImpl<T>>, std::size_t>> stack{{root.impl(), 0}};
    std::unordered_map<const TensorImpl<T>*, bool> seen{{root.impl().get(), true}};
    while (!stack.empty()) {
        auto& [t, next] = stack.back();
        const std::size_t n = t->grad_fn ? t->grad_fn->inputs.size() : 0;
        if (next < 2 * n) {
            // next in [0, n): the inputs with a node; next in [n, 2n): the leaves
            const bool leaves = next >= n;
            std::shared_ptr<TensorImpl<T>> in = t->grad_fn->inputs[next++ % n];
            if (static_cast<bool>(in->grad_fn) == leaves) {
                continue;
            }
            if (!seen[in.get()]) {
                seen[in.get()] = true;
                stack.emplace_back(std::move(in), 0);
            }
            continue;
        }
        TapeEntry<T> e;
        e.tensor = t;
        if (t->grad_fn) {
            for (const auto& in : t->grad_fn->inputs) {
                e.inputs.push_back(index.at(in.get()));
            }
        }
        index[t.get()] = tape.size();
        tape.push_back(std::move(e));
        stack.pop_back();
    }
    std::map<std::string, int> counters;
    for (auto& e : tape) {
        const TensorImpl<T>& t = *e.tensor;
        if (!t.name.empty()) {
            e.label = t.name;
        } else if (t.grad_fn) {
            e.label = fmt::format("{}_{}", t.grad_fn->op, ++counters[t.grad_fn->op]);
        } else if (t.data->array.dimension() == 0) {
            e.label = fmt::format("{:g}", static_cast<double>(t.data->array()));
        } else {
            e.label = fmt::format("input_{}", ++counters["input"]);
        }
    }
    return tape;
}

template <class T>
std::string expression_of(const std::vector<TapeEntry<T>>& tape, std::size_t i) {
    const TapeEntry<T>& e = tape[i];
    if (!e.tensor->grad_fn) {
        return e.label;
    }
    std::string args;
    for (std::size_t k = 0; k < e.inputs.size(); ++k) {
        args += (k ? ", " : "") + tape[e.inputs[k]].label;
    }
    const std::string& detail = e.tensor->grad_fn->detail;
    return fmt::format("{}({}{}{})", e.tensor->grad_fn->op, args, detail.empty() ? "" : ", ", detail);
}

template <class T>
void retain_all_grads(const Tensor<T>& root) {
    for (const auto& e : tape_of(root)) {
        if (e.tensor->grad_fn) {
            e.tensor->retains_grad = true;
        }
    }
}

#define TG_INSTANTIATE(T)                                                                  \
    template std::vector<TapeEntry<T>> tape_of(const Tensor<T>&);                          \
    template std::string expression_of(const std::vector<TapeEntry<T>>&, std::size_t);     \
    template void retain_all_grads(const Tensor<T>&);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg::see
