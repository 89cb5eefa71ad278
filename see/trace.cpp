#include "see/trace.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <unordered_map>

#include "see/tape.hpp"
#include "see/values.hpp"

namespace tg::see {

template <class T>
const TraceStep<T>* Trace<T>::step(const std::string& output) const {
    for (const auto& s : steps) {
        if (s.output == output) {
            return &s;
        }
    }
    return nullptr;
}

template <class T>
const Contribution<T>* Trace<T>::contribution(const std::string& from, const std::string& to) const {
    for (const auto& s : steps) {
        for (const auto& c : s.sent) {
            if (c.from == from && c.to == to) {
                return &c;
            }
        }
    }
    return nullptr;
}

template <class T>
const Array<T>* Trace<T>::leaf(const std::string& label) const {
    for (const auto& [name, g] : leaves) {
        if (name == label) {
            return &g;
        }
    }
    return nullptr;
}

namespace {

// Where an input was broadcast to the output's shape, its gradient was summed back over the
// broadcast axes (ops/broadcast.hpp): says which, and how many terms each sum has.
std::string broadcast_note(const Shape& input, const Shape& output, const std::string& op) {
    if (op == "matmul" || op == "linear" || shape_numel(input) >= shape_numel(output) || input.size() > output.size()) {
        return "";
    }
    const std::size_t lead = output.size() - input.size();
    std::vector<std::size_t> axes;
    std::size_t terms = 1;
    for (std::size_t a = 0; a < output.size(); ++a) {
        if (a < lead || (input[a - lead] == 1 && output[a] != 1)) {
            axes.push_back(a);
            terms *= output[a];
        }
    }
    if (axes.empty()) {
        return "";
    }
    return fmt::format("summed over {} {}, {} = {}", axes.size() == 1 ? "axis" : "axes", fmt::join(axes, ", "),
                       axes == std::vector<std::size_t>{0} ? "N" : "terms", terms);
}

template <class T>
class Recorder : public BackwardObserver<T> {
public:
    Recorder(const std::vector<TapeEntry<T>>& tape, Trace<T>& trace) : tape_(tape), trace_(trace) {
        for (std::size_t i = 0; i < tape.size(); ++i) {
            at_[tape[i].tensor.get()] = i;
        }
    }

    void on_node(const TensorImpl<T>& output, const Node<T>& node, const Tensor<T>& upstream_tensor,
                 const Grads<T>& contributions) override {
        const Array<T>& upstream = upstream_tensor.value();
        const std::size_t i = at_.at(&output);
        TraceStep<T> s;
        s.output = tape_[i].label;
        s.expression = expression_of(tape_, i);
        s.op = node.op;
        s.rule = node.rule;
        s.upstream = upstream;
        s.index = i;
        for (std::size_t k = 0; k < node.inputs.size(); ++k) {
            if (!node.inputs[k]->requires_grad || !contributions[k].defined()) {
                continue;
            }
            const std::size_t to = at_.at(node.inputs[k].get());
            s.sent.push_back(Contribution<T>{s.output, tape_[to].label, contributions[k].value(),
                                             broadcast_note(node.input_shape(k), upstream.shape(), node.op), to});
            if (received_[to].empty()) {
                order_.push_back(to);
            }
            received_[to].push_back(s.sent.back());
        }
        trace_.steps.push_back(std::move(s));
    }

    void on_leaf(const TensorImpl<T>& leaf, const Array<T>& total) override {
        trace_.leaves.emplace_back(tape_[at_.at(&leaf)].label, total);
    }

    void finish() {
        for (std::size_t to : order_) {
            const auto& parts = received_[to];
            if (parts.size() < 2) {
                continue;
            }
            Accumulated<T> a;
            a.tensor = tape_[to].label;
            a.parts = parts;
            a.total = parts.front().grad;
            for (std::size_t k = 1; k < parts.size(); ++k) {
                a.total += parts[k].grad;
            }
            trace_.accumulated.push_back(std::move(a));
        }
    }

private:
    const std::vector<TapeEntry<T>>& tape_;
    Trace<T>& trace_;
    std::unordered_map<const TensorImpl<T>*, std::size_t> at_;
    // by position on the tape (labels need not be unique), in the order first reached
    std::map<std::size_t, std::vector<Contribution<T>>> received_;
    std::vector<std::size_t> order_;
};

}  // namespace

template <class T>
Trace<T> trace_backward(const Tensor<T>& root, std::optional<Array<T>> seed, BackwardOptions options) {
    const auto tape = tape_of(root);
    Trace<T> trace;
    for (std::size_t i = 0; i < tape.size(); ++i) {
        const auto& fn = tape[i].tensor->grad_fn;
        trace.forward.push_back({tape[i].label, fn ? expression_of(tape, i) : "(input)", tape[i].tensor->data->array,
                                 fn ? fn->op : "", tape[i].inputs, tape[i].tensor->requires_grad});
    }
    Recorder<T> recorder(tape, trace);
    const std::optional<Tensor<T>> seed_tensor = seed ? std::optional<Tensor<T>>(Tensor<T>(std::move(*seed))) : std::nullopt;
    run_backward(root, seed_tensor ? &*seed_tensor : nullptr, options, &recorder);
    recorder.finish();
    return trace;
}

// ---- formats --------------------------------------------------------------------------------

namespace {

std::string steps_word(std::size_t n) { return fmt::format("{} step{}", n, n == 1 ? "" : "s"); }

}  // namespace

template <class T>
std::string trace_text(const Trace<T>& trace, std::size_t max_values) {
    std::string out = fmt::format("Forward pass ({}): {}, from the inputs on, each tensor after what it is computed from\n\n", dtype_name<T>(),
                                  steps_word(trace.forward.size()));
    std::size_t fw = 0;
    for (const auto& f : trace.forward) {
        fw = std::max(fw, f.output.size());
    }
    for (const auto& f : trace.forward) {
        out += fmt::format("  {:<{}} = {}\n  {:<{}}   {}\n", f.output, fw, f.expression, "", fw, show(f.value, max_values));
    }
    out += fmt::format("\nBackward trace ({}): {}, in the order the engine runs them\n", dtype_name<T>(),
                       steps_word(trace.steps.size()));
    std::size_t width = 0;
    for (const auto& s : trace.steps) {
        for (const auto& c : s.sent) {
            width = std::max(width, c.to.size());
        }
        width = std::max(width, s.output.size());
    }
    const std::size_t w = width + 4;  // "dL/d" and the longest label
    for (std::size_t k = 0; k < trace.steps.size(); ++k) {
        const auto& s = trace.steps[k];
        out += fmt::format("\n[{}] {} = {}\n", k + 1, s.output, s.expression);
        out += fmt::format("    rule  {}\n", s.rule);
        out += fmt::format("    {:<{}} {}\n", "dL/d" + s.output, w + 3, show(s.upstream, max_values));
        for (const auto& c : s.sent) {
            out += fmt::format("    -> {:<{}} {}{}\n", "dL/d" + c.to, w, show(c.grad, max_values),
                               c.note.empty() ? "" : "   (" + c.note + ")");
        }
    }
    if (!trace.accumulated.empty()) {
        out += "\nTensors that receive several contributions (the engine adds them up):\n";
        const std::size_t aw = 2 * width + 10;
        for (const auto& a : trace.accumulated) {
            for (const auto& p : a.parts) {
                out += fmt::format("    {:<{}} {}\n", "dL/d" + a.tensor + " from " + p.from, aw, show(p.grad, max_values));
            }
            out += fmt::format("    {:<{}} {}\n", "dL/d" + a.tensor + " total", aw, show(a.total, max_values));
        }
    }
    out += "\nGradients of the leaves:\n";
    for (const auto& [name, g] : trace.leaves) {
        out += fmt::format("    {:<{}} {}\n", "dL/d" + name, w + 3, show(g, max_values));
    }
    return out;
}

template <class T>
std::string trace_markdown(const Trace<T>& trace, std::size_t max_values) {
    auto cell = [&](const Array<T>& a) { return "`" + show(a, max_values) + "`"; };
    std::string out = fmt::format("### Forward pass ({}), {}\n\n| tensor | computed as | value |\n|---|---|---|\n",
                                  dtype_name<T>(), steps_word(trace.forward.size()));
    for (const auto& f : trace.forward) {
        out += fmt::format("| {} | `{}` | {} |\n", f.output, f.expression, cell(f.value));
    }
    out += fmt::format("\n### Backward trace ({}), {}\n\n", dtype_name<T>(), steps_word(trace.steps.size()));
    out += "| step | node | rule | upstream | sends |\n|---|---|---|---|---|\n";
    for (std::size_t k = 0; k < trace.steps.size(); ++k) {
        const auto& s = trace.steps[k];
        std::string sends;
        for (const auto& c : s.sent) {
            sends += (sends.empty() ? "" : "<br>") +
                     fmt::format("dL/d{} = {}{}", c.to, cell(c.grad), c.note.empty() ? "" : " (" + c.note + ")");
        }
        out += fmt::format("| {} | `{} = {}` | `{}` | dL/d{} = {} | {} |\n", k + 1, s.output, s.expression, s.rule,
                           s.output, cell(s.upstream), sends);
    }
    if (!trace.accumulated.empty()) {
        out += "\n**Several contributions, summed**\n\n| tensor | from | gradient |\n|---|---|---|\n";
        for (const auto& a : trace.accumulated) {
            for (const auto& p : a.parts) {
                out += fmt::format("| {} | {} | {} |\n", a.tensor, p.from, cell(p.grad));
            }
            out += fmt::format("| {} | **total** | {} |\n", a.tensor, cell(a.total));
        }
    }
    out += "\n**Leaves**\n\n| leaf | gradient |\n|---|---|\n";
    for (const auto& [name, g] : trace.leaves) {
        out += fmt::format("| {} | {} |\n", name, cell(g));
    }
    return out;
}

template <class T>
nlohmann::json trace_json(const Trace<T>& trace, std::size_t max_values) {
    nlohmann::json j;
    j["dtype"] = dtype_name<T>();
    j["forward"] = nlohmann::json::array();
    for (const auto& f : trace.forward) {
        j["forward"].push_back({{"output", f.output}, {"expression", f.expression}, {"value", to_json(f.value, max_values)}});
    }
    j["steps"] = nlohmann::json::array();
    for (const auto& s : trace.steps) {
        nlohmann::json step{{"output", s.output}, {"expression", s.expression}, {"op", s.op}, {"rule", s.rule},
                            {"upstream", to_json(s.upstream, max_values)}, {"sent", nlohmann::json::array()}};
        for (const auto& c : s.sent) {
            step["sent"].push_back({{"to", c.to}, {"grad", to_json(c.grad, max_values)}});
            if (!c.note.empty()) {
                step["sent"].back()["note"] = c.note;
            }
        }
        j["steps"].push_back(step);
    }
    j["accumulated"] = nlohmann::json::array();
    for (const auto& a : trace.accumulated) {
        nlohmann::json acc{{"tensor", a.tensor}, {"parts", nlohmann::json::array()}, {"total", to_json(a.total, max_values)}};
        for (const auto& p : a.parts) {
            acc["parts"].push_back({{"from", p.from}, {"grad", to_json(p.grad, max_values)}});
        }
        j["accumulated"].push_back(acc);
    }
    j["leaves"] = nlohmann::json::array();
    for (const auto& [name, g] : trace.leaves) {
        j["leaves"].push_back({{"tensor", name}, {"grad", to_json(g, max_values)}});
    }
    return j;
}

#define TG_INSTANTIATE(T)                                                                              \
    template struct Trace<T>;                                                                          \
    template Trace<T> trace_backward(const Tensor<T>&, std::optional<Array<T>>, BackwardOptions);      \
    template std::string trace_text(const Trace<T>&, std::size_t);                                     \
    template std::string trace_markdown(const Trace<T>&, std::size_t);                                 \
    template nlohmann::json trace_json(const Trace<T>&, std::size_t);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg::see
