#include "see/worked.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <algorithm>
#include <exception>
#include <vector>

namespace tg::see {

namespace {

using Index = std::vector<std::size_t>;

Index unravel(std::size_t flat, const Shape& shape) {
    Index idx(shape.size());
    for (std::size_t a = shape.size(); a-- > 0;) {
        idx[a] = flat % shape[a];
        flat /= shape[a];
    }
    return idx;
}

std::size_t ravel(const Index& idx, const Shape& shape) {
    std::size_t flat = 0;
    for (std::size_t a = 0; a < shape.size(); ++a) {
        flat = flat * shape[a] + idx[a];
    }
    return flat;
}

// An output index seen from an input that broadcasts to the output's shape (aligned on the right;
// a size-1 axis reads element 0).
template <class I>
I project(const I& out, const Shape& out_shape, const Shape& in_shape, typename I::value_type zero) {
    I in(in_shape.size());
    const std::size_t lead = out_shape.size() - in_shape.size();
    for (std::size_t a = 0; a < in_shape.size(); ++a) {
        in[a] = in_shape[a] == 1 && out_shape[a + lead] != 1 ? zero : out[a + lead];
    }
    return in;
}

std::string index_text(const std::vector<std::string>& idx) {
    return idx.empty() ? "" : fmt::format("[{}]", fmt::join(idx, ", "));
}

std::vector<std::string> as_text(const Index& idx) {
    std::vector<std::string> out;
    for (std::size_t v : idx) {
        out.push_back(std::to_string(v));
    }
    return out;
}

// 4 significant digits, negative numbers in parentheses so that they read as one operand
std::string num(double v) { return v < 0 ? fmt::format("({:.4g})", v) : fmt::format("{:.4g}", v); }

// One term of an element's gradient: the rule in numbers, and its value.
struct Term {
    std::string numbers;
    double value = 0;
};

// "lhs = [sum_i ]symbols = t1 + t2 + ... = value": up to 4 terms in full, more as the first 3 and a count.
WorkedElement finish(const std::string& index, const std::string& lhs, const std::string& symbols,
                     const std::vector<Term>& terms) {
    WorkedElement w;
    w.index = index;
    std::string numbers;
    const std::size_t shown = terms.size() <= 4 ? terms.size() : 3;
    for (std::size_t t = 0; t < shown; ++t) {
        numbers += (t ? " + " : "") + terms[t].numbers;
    }
    if (shown < terms.size()) {
        numbers += fmt::format(" + ... ({} terms)", terms.size());
    }
    for (const Term& t : terms) {
        w.value += t.value;
    }
    const std::string value = fmt::format("{:.4g}", w.value);
    // a rule that passes its upstream on (add, sub) has nothing to compute: its number is the value
    w.text = numbers == value ? fmt::format("{} = {} = {}", lhs, symbols, value)
                              : fmt::format("{} = {} = {} = {}", lhs, symbols, numbers, value);
    return w;
}

// Parses "axis [0], n = 4" / "axes [0, 2], n = 12, keepdims" (a reduction's detail in its expression).
std::vector<std::size_t> reduced_axes(const std::string& expression) {
    std::vector<std::size_t> axes;
    const std::size_t open = expression.find('['), close = expression.find(']');
    if (open == std::string::npos || close == std::string::npos || close < open) {
        return axes;
    }
    std::size_t at = open + 1;
    while (at < close) {
        std::size_t used = 0;
        try {
            axes.push_back(static_cast<std::size_t>(std::stoul(expression.substr(at, close - at), &used)));
        } catch (const std::exception&) {
            return {};
        }
        at += used;
        while (at < close && (expression[at] == ',' || expression[at] == ' ')) {
            ++at;
        }
    }
    return axes;
}

// pow(x, 2)'s exponent, NaN when the expression has none
double exponent_of(const std::string& expression) {
    const std::size_t comma = expression.rfind(", ");
    try {
        return comma == std::string::npos ? std::nan("") : std::stod(expression.substr(comma + 2));
    } catch (const std::exception&) {
        return std::nan("");
    }
}

}  // namespace

template <class T>
std::optional<WorkedElement> worked_element(const Trace<T>& trace, const TraceStep<T>& step, const Contribution<T>& sent) {
    const ForwardStep<T>& node = trace.forward.at(step.index);
    std::size_t k = node.inputs.size();
    std::size_t matches = 0;
    for (std::size_t i = 0; i < node.inputs.size(); ++i) {
        if (node.inputs[i] == sent.to_index) {
            k = i;
            ++matches;
        }
    }
    if (matches != 1 || sent.grad.size() == 0) {
        return std::nullopt;  // x used twice by one op (mul(x, x)): its gradient is two rules' sum
    }
    const std::string& op = node.op;
    const Array<T>& g = step.upstream;
    const Array<T>& y = node.value;
    const Shape out_shape = g.shape();
    const Shape in_shape = sent.grad.shape();
    const std::size_t flat = sent.grad.size() > 1 ? 1 : 0;
    const Index e = unravel(flat, in_shape);
    auto value_of = [&](std::size_t input) -> const Array<T>& { return trace.forward.at(node.inputs.at(input)).value; };
    auto name_of = [&](std::size_t input) { return trace.forward.at(node.inputs.at(input)).output; };
    auto at = [](const Array<T>& a, const Index& idx) { return static_cast<double>(a.data()[ravel(idx, a.shape())]); };
    const std::string G = "dL/d" + step.output;

    const std::string index = index_text(as_text(e));
    const std::string lhs = "dL/d" + sent.to + index;

    const bool elementwise = op == "add" || op == "sub" || op == "mul" || op == "div" || op == "pow" || op == "sqrt" ||
                             op == "exp" || op == "log" || op == "tanh" || op == "sigmoid" || op == "relu" || op == "neg";
    if (elementwise) {
        const bool two = op == "add" || op == "sub" || op == "mul" || op == "div";
        if (node.inputs.size() != (two ? 2u : 1u) || (op == "pow" && std::isnan(exponent_of(node.expression)))) {
            return std::nullopt;  // a scalar kept inside the node, or a tensor exponent: the rule alone
        }
        const double p = op == "pow" ? exponent_of(node.expression) : 0;
        const bool binary = node.inputs.size() == 2;
        const Shape a_shape = value_of(0).shape();
        const Shape b_shape = binary ? value_of(1).shape() : Shape{};
        auto a_at = [&](const std::vector<std::string>& o) { return name_of(0) + index_text(project(o, out_shape, a_shape, std::string("0"))); };
        auto b_at = [&](const std::vector<std::string>& o) { return name_of(1) + index_text(project(o, out_shape, b_shape, std::string("0"))); };
        auto g_at = [&](const std::vector<std::string>& o) { return G + index_text(o); };
        auto y_at = [&](const std::vector<std::string>& o) { return step.output + index_text(o); };
        // the rule for input k at output element o, in symbols and in numbers
        auto rule = [&](const std::vector<std::string>& o, double gv, double av, double bv, double yv, bool numbers) {
            auto G_ = [&] { return numbers ? num(gv) : g_at(o); };
            auto A_ = [&] { return numbers ? num(av) : a_at(o); };
            auto B_ = [&] { return numbers ? num(bv) : b_at(o); };
            auto Y_ = [&] { return numbers ? num(yv) : y_at(o); };
            if (op == "add") return G_();
            if (op == "sub") return k == 0 ? G_() : "-" + G_();
            if (op == "mul") return k == 0 ? G_() + " * " + B_() : G_() + " * " + A_();
            if (op == "div") return k == 0 ? G_() + " / " + B_() : "-" + G_() + " * " + A_() + " / " + B_() + "^2";
            if (op == "pow") return fmt::format("{} * {:g} * {}^{:g}", G_(), p, A_(), p - 1);
            if (op == "sqrt") return G_() + " / (2 * " + Y_() + ")";
            if (op == "exp") return G_() + " * " + Y_();
            if (op == "log") return G_() + " / " + A_();
            if (op == "tanh") return G_() + " * (1 - " + Y_() + "^2)";
            if (op == "sigmoid") return G_() + " * " + Y_() + " * (1 - " + Y_() + ")";
            if (op == "relu") return G_() + " * (" + A_() + " > 0)";
            return "-" + G_();  // neg
        };
        auto local = [&](double gv, double av, double bv, double yv) {
            if (op == "add") return gv;
            if (op == "sub") return k == 0 ? gv : -gv;
            if (op == "mul") return k == 0 ? gv * bv : gv * av;
            if (op == "div") return k == 0 ? gv / bv : -gv * av / (bv * bv);
            if (op == "pow") return gv * p * std::pow(av, p - 1);
            if (op == "sqrt") return gv / (2 * yv);
            if (op == "exp") return gv * yv;
            if (op == "log") return gv / av;
            if (op == "tanh") return gv * (1 - yv * yv);
            if (op == "sigmoid") return gv * yv * (1 - yv);
            if (op == "relu") return av > 0 ? gv : 0.0;
            return -gv;
        };
        // the output elements whose projection onto input k is e
        const Shape& mine = k == 0 ? a_shape : b_shape;
        std::vector<Index> outs;
        const std::size_t count = shape_numel(out_shape);
        for (std::size_t f = 0; f < count; ++f) {
            const Index o = unravel(f, out_shape);
            if (project(o, out_shape, mine, std::size_t{0}) == e) {
                outs.push_back(o);
            }
        }
        // the axes that vary among them get letters, and the sum runs over them
        static const char* letters[] = {"i", "j", "k", "l", "m", "n"};
        std::vector<std::string> sym_index = as_text(outs.front()), free_axes;
        for (std::size_t a = 0; a < out_shape.size() && free_axes.size() < 6; ++a) {
            if (std::any_of(outs.begin(), outs.end(), [&](const Index& o) { return o[a] != outs.front()[a]; })) {
                sym_index[a] = letters[free_axes.size()];
                free_axes.push_back(sym_index[a]);
            }
        }
        std::vector<Term> terms;
        for (const Index& o : outs) {
            const double gv = at(g, o), yv = at(y, o);
            const double av = at(value_of(0), project(o, out_shape, a_shape, std::size_t{0}));
            const double bv = binary ? at(value_of(1), project(o, out_shape, b_shape, std::size_t{0})) : 0.0;
            terms.push_back({rule(as_text(o), gv, av, bv, yv, true), local(gv, av, bv, yv)});
        }
        const std::string sum = free_axes.empty() ? "" : fmt::format("sum_{} ", fmt::join(free_axes, ","));
        return finish(index, lhs, sum + rule(sym_index, 0, 0, 0, 0, false), terms);
    }

    WorkedElement w;
    w.index = index;
    if (op == "mean" || op == "sum") {
        // the one output element e reduces into: e without the reduced axes (kept as 0 with keepdims)
        const std::vector<std::size_t> axes = reduced_axes(node.expression);
        Index o;
        for (std::size_t a = 0; a < in_shape.size(); ++a) {
            const bool reduced = std::find(axes.begin(), axes.end(), a) != axes.end();
            if (!reduced) {
                o.push_back(e[a]);
            } else if (out_shape.size() == in_shape.size()) {
                o.push_back(0);
            }
        }
        if (o.size() != out_shape.size()) {
            return std::nullopt;
        }
        const double gv = at(g, o);
        const std::string gs = G + index_text(as_text(o));
        if (op == "sum") {
            w.value = gv;
            w.text = fmt::format("{} = {} = {:.4g}", lhs, gs, w.value);
        } else {
            const std::size_t n = shape_numel(in_shape) / std::max<std::size_t>(1, shape_numel(out_shape));
            w.value = gv / static_cast<double>(n);
            w.text = fmt::format("{} = {} / {} = {} / {} = {:.4g}", lhs, gs, n, num(gv), n, w.value);
        }
        return w;
    }
    if (op == "reshape") {  // the same element, read in the output's shape
        const Index o = unravel(flat, out_shape);
        w.value = at(g, o);
        w.text = fmt::format("{} = {}{} = {:.4g}   (a reshape moves no value)", lhs, G, index_text(as_text(o)), w.value);
        return w;
    }
    if (op == "matmul" && g.dimension() == 2 && in_shape.size() == 2 && node.inputs.size() == 2) {
        const Array<T>& a = value_of(0);
        const Array<T>& b = value_of(1);
        std::vector<Term> terms;
        if (k == 0) {  // dA[i, j] = sum_q G[i, q] * B[j, q]
            const std::size_t i = e[0], j = e[1];
            for (std::size_t q = 0; q < out_shape[1]; ++q) {
                const double gv = at(g, {i, q}), bv = at(b, {j, q});
                terms.push_back({num(gv) + " * " + num(bv), gv * bv});
            }
            return finish(index, lhs, fmt::format("sum_q {}[{}, q] * {}[{}, q]", G, i, name_of(1), j), terms);
        }
        const std::size_t j = e[0], q = e[1];  // dB[j, q] = sum_i A[i, j] * G[i, q]
        for (std::size_t i = 0; i < out_shape[0]; ++i) {
            const double av = at(a, {i, j}), gv = at(g, {i, q});
            terms.push_back({num(av) + " * " + num(gv), av * gv});
        }
        return finish(index, lhs, fmt::format("sum_i {}[i, {}] * {}[i, {}]", name_of(0), j, G, q), terms);
    }
    return std::nullopt;
}

template std::optional<WorkedElement> worked_element(const Trace<float>&, const TraceStep<float>&, const Contribution<float>&);
template std::optional<WorkedElement> worked_element(const Trace<double>&, const TraceStep<double>&, const Contribution<double>&);

}  // namespace tg::see
