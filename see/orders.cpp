#include "see/orders.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <unordered_set>

#include "core/engine.hpp"
#include "ops/elementwise.hpp"
#include "ops/reductions.hpp"
#include "see/values.hpp"

namespace tg::see {

namespace {

template <class T>
Array<T> direction(const Shape& shape, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> dist(-1.0, 1.0);
    Array<T> a = tg::empty<T>(shape);
    for (auto& v : a) {
        v = static_cast<T>(dist(rng));
    }
    return a;
}

// The derivatives one side computes, at x (and gamma) moved by `step` along the directions.
template <class T>
struct Derivatives {
    std::vector<Array<T>> out;  // order 2: dL2/dx, dL2/dgamma (if affine); order 3: dL3/dx
    std::vector<Tensor<T>> roots;  // the derivatives as tensors, for counting their graph
};

template <class T>
Derivatives<T> derivatives(const NormCase<T>& c, nn::BatchNormImpl impl, int order, int upto, double step) {
    auto bn = c.make_norm(impl);
    OptionalTensor<T>& weight = *bn.weight;
    const Shape xs = c.x.shape();
    const Array<T> vx = direction<T>(xs, 1), wx = direction<T>(xs, 3);
    Array<T> x0 = c.x;
    if (step != 0) {
        x0 += static_cast<T>(step) * (order == 2 ? vx : wx);
    }
    Tensor<T> x(x0, true);
    std::vector<Tensor<T>> params{x};
    Array<T> vg;
    if (weight) {
        vg = direction<T>(weight->shape(), 2);
        if (step != 0 && order == 2) {
            weight->mutable_value() += static_cast<T>(step) * vg;
        }
        params.push_back(*weight);
    }
    GradOptions graph;
    graph.create_graph = true;
    graph.allow_unused = true;
    const Tensor<T> l1 = sum(Tensor<T>(c.dy) * bn(x));
    const std::vector<Tensor<T>> first = grad<T>({l1}, params, {}, graph);
    auto value_or_zero = [](const Tensor<T>& t, const Shape& s) {
        return t.defined() ? t.value() : Array<T>(xt::zeros<T>(s));
    };
    Derivatives<T> d;
    if (upto == 1) {  // the order below 2, for its central differences
        for (std::size_t i = 0; i < first.size(); ++i) {
            d.out.push_back(value_or_zero(first[i], params[i].shape()));
        }
        return d;
    }
    Tensor<T> l2 = sum(first[0] * Tensor<T>(vx));
    if (first.size() > 1) {
        l2 = l2 + sum(first[1] * Tensor<T>(vg));
    }
    const std::vector<Tensor<T>> second = grad<T>({l2}, params, {}, graph);
    if (upto == 2) {
        for (std::size_t i = 0; i < second.size(); ++i) {
            d.out.push_back(value_or_zero(second[i], params[i].shape()));
            if (second[i].defined()) {
                d.roots.push_back(second[i]);
            }
        }
        if (order == 3) {  // the order below 3: only dL2/dx is differenced
            d.out.resize(1);
        }
        return d;
    }
    if (!second[0].defined() || !second[0].requires_grad()) {  // evaluation mode: dL2/dx is constant in x
        d.out.push_back(xt::zeros<T>(xs));
        return d;
    }
    const Tensor<T> third = grad<T>({sum(second[0] * Tensor<T>(wx))}, {x}, {}, graph)[0];
    d.out.push_back(value_or_zero(third, xs));
    if (third.defined()) {
        d.roots.push_back(third);
    }
    return d;
}

template <class T>
OrderSide cost(const NormCase<T>& c, nn::BatchNormImpl impl, int order, std::size_t repeats) {
    OrderSide s;
    const Derivatives<T> d = derivatives(c, impl, order, order, 0.0);
    std::unordered_set<const Storage<T>*> seen;
    if (!d.roots.empty()) {
        for (const TensorImpl<T>* t : topological_order(d.roots)) {
            if (!t->grad_fn) {
                continue;
            }
            ++s.nodes;
            for (const auto& saved : t->grad_fn->saved_tensors) {
                if (saved.storage && seen.insert(saved.storage.get()).second) {
                    s.saved_bytes += saved.storage->array.size() * sizeof(T);
                }
            }
            s.saved_bytes += t->grad_fn->captured_bytes;
        }
    }
    std::vector<double> us;
    for (std::size_t i = 0; i < repeats; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        derivatives(c, impl, order, order, 0.0);
        us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    if (!us.empty()) {
        std::nth_element(us.begin(), us.begin() + static_cast<long>(us.size() / 2), us.end());
        s.median_us = us[us.size() / 2];
    }
    return s;
}

double rel_error(const Array<double>& a, const Array<double>& b) {
    double m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        m = std::max(m, std::abs(a.data()[i] - b.data()[i]) / std::max(1e-8, std::abs(a.data()[i]) + std::abs(b.data()[i])));
    }
    return m;
}

// Central differences of the order below, in float64, for one side.
std::vector<Array<double>> numeric(const NormCase<double>& c, nn::BatchNormImpl impl, int order, double h) {
    const auto plus = derivatives(c, impl, order, order - 1, h).out;
    const auto minus = derivatives(c, impl, order, order - 1, -h).out;
    std::vector<Array<double>> out;
    for (std::size_t i = 0; i < plus.size(); ++i) {
        out.push_back((plus[i] - minus[i]) / (2 * h));
    }
    return out;
}

std::string title(const OrderReport& r) {
    return fmt::format("Composite vs fused {}, order {}: {}, X {}{}", r.what, r.order, r.dtype, shape_str(r.shape),
                       r.what == "batch norm" ? (r.training ? ", training mode" : ", evaluation mode") : "");
}

std::string num(const std::optional<double>& v) { return v ? fmt::format("{:.2e}", *v) : "-"; }

std::string legend(int order) {
    return order == 2 ? "d/dx and d/dgamma of <dL/dx, vx> + <dL/dgamma, vg> (L = sum(dy * y)): Hessian-vector products;\n"
                        "numeric: cs231n's rel_error of each side against central differences of its own first derivative\n"
                        "along (vx, vg), in float64 with h = 1e-5"
                      : "d/dx of <d2L/dx2 . v, wx>: third derivatives along two directions;\n"
                        "numeric: cs231n's rel_error of each side against central differences of its own second derivative\n"
                        "along wx, in float64 with h = 1e-4";
}

// What the node counts of an order-k report count.
std::string nodes_note(int order) {
    return fmt::format(
        "op nodes in the derivative's graph: every op behind the order-{0} derivative, which is itself a graph because "
        "each order below is taken with create_graph: the forward pass, the first backward recorded as ops{1}, and the "
        "order-{0} backward's own ops. The fused side records its node's closed-form backward as ops (that is what makes "
        "it differentiable again), so it grows too, but from one node instead of the composite's primitives. Bytes held: the distinct arrays "
        "those ops saved.",
        order, order == 3 ? ", the second backward recorded as ops" : "");
}


}  // namespace

template <class T>
OrderReport compare_orders(const NormCase<T>& c, int order, const ReportOptions& options) {
    if (order != 2 && order != 3) {
        throw ValueError(fmt::format("compare: --order {} is not supported; give 2 (Hessian-vector products) or 3 "
                                     "(third derivatives), or leave it out for the first-order report", order));
    }
    OrderReport r;
    r.order = order;
    r.dtype = dtype_name<T>();
    r.shape = c.x.shape();
    r.what = c.title();
    r.training = c.training;
    r.repeats = options.repeats;
    const auto comp = derivatives(c, nn::BatchNormImpl::composite, order, order, 0.0).out;
    const auto fused = derivatives(c, nn::BatchNormImpl::fused, order, order, 0.0).out;
    const double h = order == 2 ? 1e-5 : 1e-4;
    const bool small = c.x.size() <= options.numeric_limit;
    const auto nc = small ? numeric(c.template as<double>(), nn::BatchNormImpl::composite, order, h) : std::vector<Array<double>>{};
    const auto nf = small ? numeric(c.template as<double>(), nn::BatchNormImpl::fused, order, h) : std::vector<Array<double>>{};
    const std::vector<std::string> names = order == 2 ? std::vector<std::string>{"d2L/dx . v", "d2L/dgamma . v"}
                                                      : std::vector<std::string>{"d3L/dx . (v, w)"};
    for (std::size_t i = 0; i < comp.size(); ++i) {
        ReportRow row = compare_arrays(names[i], comp[i], fused[i]);
        if (small) {
            row.numeric_composite = rel_error(xt::cast<double>(comp[i]), nc[i]);
            row.numeric_fused = rel_error(xt::cast<double>(fused[i]), nf[i]);
        }
        r.rows.push_back(row);
    }
    r.composite = cost(c, nn::BatchNormImpl::composite, order, options.repeats);
    r.fused = cost(c, nn::BatchNormImpl::fused, order, options.repeats);
    return r;
}

std::string order_report_text(const OrderReport& r) {
    std::string out = title(r) + "\n\n";
    out += fmt::format("{:<17}{:>6}{:>14}{:>14}{:>12}{:>17}{:>17}\n", "quantity", "exact", "max abs diff", "max rel diff",
                       "rel_error", "numeric (comp.)", "numeric (fused)");
    for (const auto& row : r.rows) {
        out += fmt::format("{:<17}{:>6}{:>14.2e}{:>14.2e}{:>12.2e}{:>17}{:>17}\n", row.quantity, row.exact ? "yes" : "no",
                           row.max_abs, row.max_rel, row.rel_error, num(row.numeric_composite), num(row.numeric_fused));
    }
    out += legend(r.order) + "\n";
    out += fmt::format("\n{:<34}{:>14}{:>14}\n", "", "composite", "fused");
    out += fmt::format("{:<34}{:>14}{:>14}\n", "op nodes in the derivative's graph", r.composite.nodes, r.fused.nodes);
    out += fmt::format("{:<34}{:>14}{:>14}\n", "bytes held for backward", r.composite.saved_bytes, r.fused.saved_bytes);
    out += fmt::format("{:<34}{:>14.1f}{:>14.1f}\n", fmt::format("median, us ({} runs)", r.repeats), r.composite.median_us,
                       r.fused.median_us);
    out += wrapped(nodes_note(r.order));
    return out;
}

std::string order_report_markdown(const OrderReport& r) {
    std::string out = "### " + title(r) + "\n\n";
    out += "| quantity | exact | max abs diff | max rel diff | rel_error | numeric err (composite) | numeric err (fused) |\n";
    out += "|---|---|---|---|---|---|---|\n";
    for (const auto& row : r.rows) {
        out += fmt::format("| {} | {} | {:.2e} | {:.2e} | {:.2e} | {} | {} |\n", row.quantity, row.exact ? "yes" : "no",
                           row.max_abs, row.max_rel, row.rel_error, num(row.numeric_composite), num(row.numeric_fused));
    }
    std::string l = legend(r.order);
    std::replace(l.begin(), l.end(), '\n', ' ');
    out += "\n" + l + "\n";
    out += "\n| | composite | fused |\n|---|---|---|\n";
    out += fmt::format("| op nodes in the derivative's graph | {} | {} |\n", r.composite.nodes, r.fused.nodes);
    out += fmt::format("| bytes held for backward | {} | {} |\n", r.composite.saved_bytes, r.fused.saved_bytes);
    out += fmt::format("| median, forward and every order up to {} ({} runs) | {:.1f} us | {:.1f} us |\n", r.order, r.repeats,
                       r.composite.median_us, r.fused.median_us);
    out += "\n" + nodes_note(r.order) + "\n";
    return out;
}

nlohmann::json order_report_json(const OrderReport& r) {
    nlohmann::json j{{"order", r.order}, {"norm", r.what}, {"dtype", r.dtype}, {"shape", r.shape}, {"mode", r.training ? "train" : "eval"},
                     {"repeats", r.repeats}};
    j["rows"] = nlohmann::json::array();
    for (const auto& row : r.rows) {
        nlohmann::json jr{{"quantity", row.quantity}, {"exact", row.exact}, {"max_abs_diff", row.max_abs},
                          {"max_rel_diff", row.max_rel}, {"rel_error", row.rel_error}};
        jr["numeric_error_composite"] = row.numeric_composite ? nlohmann::json(*row.numeric_composite) : nlohmann::json();
        jr["numeric_error_fused"] = row.numeric_fused ? nlohmann::json(*row.numeric_fused) : nlohmann::json();
        j["rows"].push_back(jr);
    }
    for (const auto& [name, side] : {std::pair<const char*, const OrderSide&>{"composite", r.composite},
                                     std::pair<const char*, const OrderSide&>{"fused", r.fused}}) {
        j[name] = {{"nodes", side.nodes}, {"saved_bytes", side.saved_bytes}, {"median_us", side.median_us}};
    }
    return j;
}

template OrderReport compare_orders(const NormCase<float>&, int, const ReportOptions&);
template OrderReport compare_orders(const NormCase<double>&, int, const ReportOptions&);

}  // namespace tg::see
