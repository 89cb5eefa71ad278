// A trace of one step: the forward pass as the tape recorded it (every tensor's value), then the
// backward pass in the order the engine runs it: for each node its op, the rule it applies, the
// upstream gradient and what it sends to each input (and where it was summed back over broadcast
// axes); for each tensor that receives several contributions, each one and their sum; and the
// gradient of every leaf.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "core/engine.hpp"

namespace tg::see {

template <class T>
struct Contribution {
    std::string from;  // the label of the node's output that sent it
    std::string to;    // the label of the input that receives it
    Array<T> grad;
    std::string note;  // "summed over axis 0, N = 4" where the input was broadcast
    std::size_t to_index = 0;  // the receiving tensor's position on the tape (Trace::forward)
};

template <class T>
struct ForwardStep {
    std::string output;      // "mu"
    std::string expression;  // "mean(X, axis [0], n = 4)", or "(input)" for a leaf
    Array<T> value;
    std::string op;          // empty for a leaf
    std::vector<std::size_t> inputs;  // positions on the tape (in Trace::forward)
    bool requires_grad = false;
};

template <class T>
struct TraceStep {
    std::string output;      // the label of the tensor whose node runs ("xhat")
    std::string expression;  // "div(xc, std)"
    std::string op;
    std::string rule;        // "d(a/b)/da = g/b, d(a/b)/db = -g*a/b^2"
    Array<T> upstream;       // dL/d(output)
    std::vector<Contribution<T>> sent;
    std::size_t index = 0;   // the output's position on the tape (Trace::forward)
};

template <class T>
struct Accumulated {
    std::string tensor;
    std::vector<Contribution<T>> parts;
    Array<T> total;
};

template <class T>
struct Trace {
    std::vector<ForwardStep<T>> forward;  // in recording order, leaves included
    std::vector<TraceStep<T>> steps;
    std::vector<Accumulated<T>> accumulated;  // tensors with more than one contribution
    std::vector<std::pair<std::string, Array<T>>> leaves;  // dL/d(leaf), as accumulated into .grad

    const TraceStep<T>* step(const std::string& output) const;
    // What `from` sent to `to`, or nullptr.
    const Contribution<T>* contribution(const std::string& from, const std::string& to) const;
    const Array<T>* leaf(const std::string& label) const;
};

// Runs backward from root (seed as for Tensor::backward) and records it.
template <class T>
Trace<T> trace_backward(const Tensor<T>& root, std::optional<Array<T>> seed = std::nullopt,
                        BackwardOptions options = {});

template <class T>
std::string trace_text(const Trace<T>& trace, std::size_t max_values = 12);
template <class T>
std::string trace_markdown(const Trace<T>& trace, std::size_t max_values = 12);
template <class T>
nlohmann::json trace_json(const Trace<T>& trace, std::size_t max_values = 12);

}  // namespace tg::see
