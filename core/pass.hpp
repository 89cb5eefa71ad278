// A backward pass's own state, owned by the engine (core/engine.cpp): what the pass was asked to
// do, the buffers its topological sort fills, and how far ahead it asks for memory. The marks it
// writes on tensors and nodes are in core/marks.hpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/engine.hpp"
#include "core/prefetch.hpp"

namespace tg {

// What one pass is asked to do.
template <class T>
struct Pass {
    bool create_graph = false;
    bool retain_graph = false;
    // backward() delivers to the leaves' .grad (and retained tensors'); tg::grad() instead
    // captures the gradients of `wanted` and touches no .grad.
    std::unordered_map<const TensorImpl<T>*, std::size_t> wanted;
    std::vector<Tensor<T>> captured;
    BackwardObserver<T>* observer = nullptr;
};

// Each topological sort takes a fresh number and marks the tensors it reaches with it.
inline std::atomic<std::uint64_t> pass_counter{0};

// Depth-first with an explicit stack of (tensor, index of the next input to visit): a tensor is
// emitted after all of its inputs (post-order). Fills `order`, using `stack` as scratch space, and
// calls on_sorted(tensor, pass number) for each tensor as it is emitted.
template <class T, class OnSorted>
void sort_into(const std::vector<Tensor<T>>& roots, std::vector<TensorImpl<T>*>& order,
               std::vector<std::pair<TensorImpl<T>*, std::size_t>>& stack, OnSorted&& on_sorted) {
    const std::uint64_t pass = ++pass_counter;
    order.clear();
    stack.clear();
    for (const Tensor<T>& root : roots) {
        if (root.impl()->marks.pass == pass) {
            continue;
        }
        stack.emplace_back(root.impl().get(), 0);
        root.impl()->marks.pass = pass;
        while (!stack.empty()) {
            auto& [t, next] = stack.back();
            if (t->grad_fn && next == 0) {
                // all of its inputs are wanted soon: ask for them together (core/prefetch.hpp)
                for (const auto& in : t->grad_fn->inputs) {
                    prefetch(in.get());
                }
            }
            if (t->grad_fn && next < t->grad_fn->inputs.size()) {
                TensorImpl<T>* in = t->grad_fn->inputs[next++].get();
                if (in->requires_grad && in->marks.pass != pass) {
                    in->marks.pass = pass;
                    stack.emplace_back(in, 0);
                }
            } else {
                on_sorted(t, pass);
                order.push_back(t);
                stack.pop_back();
            }
        }
    }
}

// The order and the sort's stack, kept from one pass to the next on each thread so that a pass on
// a large graph of tiny tensors does not regrow them (each regrowth of a large vector also makes
// glibc's malloc sweep its free lists). A pass started inside another (a rule that runs backward)
// gets buffers of its own.
template <class T>
class SortBuffers {
public:
    SortBuffers() : buffers_(spare().busy ? &own_ : &spare()) { buffers_->busy = true; }
    ~SortBuffers() {
        buffers_->busy = false;
        if (buffers_->order.capacity() > keep_at_most) {  // do not keep a huge graph's worth
            buffers_->order = {};
            buffers_->stack = {};
        }
    }
    SortBuffers(const SortBuffers&) = delete;
    SortBuffers& operator=(const SortBuffers&) = delete;
    // The graph below `roots` in topological order; on_sorted(tensor, pass) readies each tensor.
    template <class OnSorted>
    const std::vector<TensorImpl<T>*>& sort(const std::vector<Tensor<T>>& roots, OnSorted&& on_sorted) const {
        sort_into(roots, buffers_->order, buffers_->stack, on_sorted);
        return buffers_->order;
    }

private:
    static constexpr std::size_t keep_at_most = std::size_t{1} << 22;  // tensors' worth kept between passes
    struct Buffers {
        std::vector<TensorImpl<T>*> order;
        std::vector<std::pair<TensorImpl<T>*, std::size_t>> stack;
        bool busy = false;
    };
    static Buffers& spare() {
        thread_local Buffers b;
        return b;
    }
    Buffers own_;
    Buffers* buffers_;
};

// A pass over a large graph of tiny tensors waits on memory, not on arithmetic: each step reads a
// tensor, its node, the node's inputs and saved values, scattered over the heap. They are asked
// for a few steps ahead, in stages: a tensor must arrive before its node can be found, and the
// node before its inputs. The distances, in steps of the order: asking for them (the tensor 12
// ahead, its node 8, the node's inputs and saved values 4) took the backward half of micrograd's
// scalar demo step (65,000 one-element ops) from 66-68 ms to 52-56 ms on this project's 2-core
// machine (bench/DESIGN.md, "Tiny graphs").
inline constexpr std::size_t prefetch_tensor_ahead = 12;
inline constexpr std::size_t prefetch_node_ahead = 8;
inline constexpr std::size_t prefetch_inputs_ahead = 4;

template <class T>
void prefetch_ahead(const std::vector<TensorImpl<T>*>& order, std::size_t k) {
    if (k >= prefetch_tensor_ahead) {
        prefetch(order[k - prefetch_tensor_ahead]);  // its grad_fn and marks share its first line
    }
    if (k >= prefetch_node_ahead && order[k - prefetch_node_ahead]->grad_fn) {
        prefetch(order[k - prefetch_node_ahead]->grad_fn.get(), sizeof(Node<T>));
    }
    if (k >= prefetch_inputs_ahead && order[k - prefetch_inputs_ahead]->grad_fn) {
        const Node<T>& node = *order[k - prefetch_inputs_ahead]->grad_fn;
        for (const auto& in : node.inputs) {
            prefetch(in.get());
        }
        for (const auto& saved : node.saved_tensors) {
            prefetch(saved.storage.get(), sizeof(Storage<T>));
        }
    }
}

}  // namespace tg
