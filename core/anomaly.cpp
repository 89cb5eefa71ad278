#include "core/anomaly.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <deque>
#include <unordered_set>

namespace tg {

namespace {

thread_local bool anomaly_mode = false;
thread_local bool in_rule = false;

template <class T>
std::string describe_leaf(const TensorImpl<T>& t) {
    if (!t.name.empty()) {
        return t.name;
    }
    if (t.data->array.dimension() == 0) {
        return fmt::format("{:g}", static_cast<double>(t.data->array()));
    }
    return fmt::format("input {}", shape_str(t.data->array.shape()));
}

// An expression for t: named tensors by their name (their definitions queued for the "where"
// list), unnamed ones expanded, four levels deep at most.
template <class T>
std::string expr(const TensorImpl<T>& t, int depth, std::deque<const TensorImpl<T>*>& named) {
    if (!t.name.empty() && t.grad_fn) {
        named.push_back(&t);
        return t.name;
    }
    if (!t.grad_fn) {
        return describe_leaf(t);
    }
    if (depth == 0) {
        return std::string(t.grad_fn->op) + "(...)";
    }
    std::string args;
    for (std::size_t i = 0; i < t.grad_fn->inputs.size(); ++i) {
        args += (i ? ", " : "") + expr(*t.grad_fn->inputs[i], depth - 1, named);
    }
    return fmt::format("{}({})", t.grad_fn->op, args);
}

const char* hint(const char* op) {
    if (!std::strcmp(op, "sqrt") || !std::strcmp(op, "log") || !std::strcmp(op, "pow")) {
        return "look for a negative value (or a zero) under a square root, a log or a power";
    }
    if (!std::strcmp(op, "div")) {
        return "look for a division by zero (a constant feature has variance 0)";
    }
    if (!std::strcmp(op, "exp")) {
        return "look for an input large enough to overflow exp";
    }
    return "look for the first NaN or infinity among the op's inputs";
}

template <class T>
std::size_t non_finite(const Array<T>& a, bool& nan) {
    std::size_t count = 0;
    nan = false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const T v = a.data()[i];
        if (!std::isfinite(v)) {
            ++count;
            nan = nan || std::isnan(v);
        }
    }
    return count;
}

}  // namespace

bool anomaly_enabled() { return anomaly_mode; }

bool forward_checks_paused() { return in_rule; }
PauseForwardChecks::PauseForwardChecks() : previous_(in_rule) { in_rule = true; }
PauseForwardChecks::~PauseForwardChecks() { in_rule = previous_; }

DetectAnomalyGuard::DetectAnomalyGuard() : previous_(anomaly_mode) { anomaly_mode = true; }
DetectAnomalyGuard::~DetectAnomalyGuard() { anomaly_mode = previous_; }

template <class T>
std::string lineage(const char* op, const std::vector<const TensorImpl<T>*>& inputs) {
    std::deque<const TensorImpl<T>*> named;
    std::string args;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        args += (i ? ", " : "") + expr(*inputs[i], 3, named);
    }
    std::string out = fmt::format("{}({})", op, args);
    std::unordered_set<const TensorImpl<T>*> done;
    std::string where;
    for (int shown = 0; !named.empty() && shown < 6;) {
        const TensorImpl<T>* t = named.front();
        named.pop_front();
        if (!done.insert(t).second) {
            continue;
        }
        std::string body;
        for (std::size_t i = 0; i < t->grad_fn->inputs.size(); ++i) {
            body += (i ? ", " : "") + expr(*t->grad_fn->inputs[i], 3, named);
        }
        where += fmt::format("{}{} = {}({})", shown ? ", " : "", t->name, t->grad_fn->op, body);
        ++shown;
    }
    return where.empty() ? out : out + ", where " + where;
}

template <class T>
void check_forward(const char* op, const Array<T>& value, TensorList<T> inputs) {
    bool nan = false;
    const std::size_t bad = non_finite(value, nan);
    if (bad == 0) {
        return;
    }
    std::vector<const TensorImpl<T>*> in;
    for (const auto& t : inputs) {
        in.push_back(t.impl().get());
    }
    throw AnomalyError(fmt::format("anomaly in forward: {} produced {} ({} of {} values), computed as {}; {}", op,
                                   nan ? "NaN" : "an infinity", bad, value.size(), lineage<T>(op, in), hint(op)));
}

template <class T>
void check_backward(const TensorImpl<T>& output, const Node<T>& node, std::size_t i, const Array<T>& grad) {
    bool nan = false;
    const std::size_t bad = non_finite(grad, nan);
    if (bad == 0) {
        return;
    }
    std::vector<const TensorImpl<T>*> in;
    for (const auto& t : node.inputs) {
        in.push_back(t.get());
    }
    const TensorImpl<T>& target = *node.inputs[i];
    throw AnomalyError(fmt::format(
        "anomaly in backward: the gradient that {} sends to {} holds {} ({} of {} values); {} = {}; {}", node.op,
        target.name.empty() ? fmt::format("its input {}", i) : "'" + target.name + "'", nan ? "NaN" : "an infinity", bad,
        grad.size(), output.name.empty() ? "the output" : output.name, lineage<T>(node.op, in), hint(node.op)));
}

#define TG_INSTANTIATE(T)                                                                                  \
    template std::string lineage(const char*, const std::vector<const TensorImpl<T>*>&);                   \
    template void check_forward(const char*, const Array<T>&, TensorList<T>);                             \
    template void check_backward(const TensorImpl<T>&, const Node<T>&, std::size_t, const Array<T>&);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg
