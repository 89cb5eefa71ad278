// What a backward pass (core/pass.hpp, core/engine.cpp) writes on the graph it walks. The engine
// owns these fields; nothing else reads them.
//
// Note: they live in the tensors and nodes themselves rather than in side tables keyed by
// address, so that a pass over a graph of 65,000 tiny tensors allocates nothing per tensor beyond
// the gradients and reads one cache line per tensor (bench/DESIGN.md, "Tiny graphs").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace tg {

template <class T>
struct TensorImpl;

// A tensor's marks: the gradient that has arrived at it so far in the current pass, and the
// number of the pass that last reached it (each topological sort takes a fresh number).
template <class T>
struct TensorMarks {
    std::shared_ptr<TensorImpl<T>> pending;
    std::uint64_t pass = 0;
};

// A node's marks: how many tensors of the current pass still have to run it (usually one; more
// when a rule under create_graph used the node's output again, see Node::saved(); the node may
// only be released after the last of them), and the pass that counted them.
struct NodeMarks {
    std::size_t runs_left = 0;
    std::uint64_t pass = 0;
};

}  // namespace tg
