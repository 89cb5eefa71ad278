#include "see/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <unordered_set>

#include "ops/batchnorm_arrays.hpp"
#include "ops/norm_layout.hpp"
#include "see/html.hpp"
#include "see/tape.hpp"
#include "see/values.hpp"

namespace tg::see {

template <class T>
ReportRow compare_arrays(const std::string& quantity, const Array<T>& c, const Array<T>& f) {
    if (c.shape() != f.shape()) {
        throw ShapeError(fmt::format("compare: {} has shape {} in the composite and {} in the fused", quantity,
                                     shape_str(c.shape()), shape_str(f.shape())));
    }
    ReportRow r;
    r.quantity = quantity;
    r.exact = true;
    for (std::size_t i = 0; i < c.size(); ++i) {
        const double a = static_cast<double>(c.data()[i]);
        const double b = static_cast<double>(f.data()[i]);
        const double d = std::abs(a - b);
        r.exact = r.exact && a == b;
        r.max_abs = std::max(r.max_abs, d);
        const double scale = std::max(std::abs(a), std::abs(b));
        r.max_rel = std::max(r.max_rel, scale > 0 ? d / scale : 0.0);
        r.rel_error = std::max(r.rel_error, d / std::max(1e-8, std::abs(a) + std::abs(b)));
    }
    return r;
}

namespace {

double cs231n_rel_error(const Array<double>& a, const Array<double>& b) {
    double m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        m = std::max(m, std::abs(a.data()[i] - b.data()[i]) / std::max(1e-8, std::abs(a.data()[i]) + std::abs(b.data()[i])));
    }
    return m;
}

template <class T>
struct Side {
    std::map<std::string, Array<T>> q;
    ReportSide cost;
};

template <class T>
Side<T> run_side(const NormCase<T>& c, nn::BatchNormImpl impl, const ReportOptions& options) {
    Side<T> s;
    auto norm = c.make_norm(impl);
    Tensor<T> x = Tensor<T>(c.x, true).named("X");
    Tensor<T> y = norm(x);
    // The cost of keeping the graph: op nodes and the distinct storages they saved. The composite's
    // intermediates whose gradients the report compares are kept on the same walk.
    std::unordered_set<const void*> storages;
    std::map<std::string, Tensor<T>> kept;
    for (const auto& e : tape_of(y)) {
        const auto& fn = e.tensor->grad_fn;
        if (!fn) {
            continue;
        }
        ++s.cost.nodes;
        s.cost.saved_bytes += fn->captured_bytes;
        for (const auto& saved : fn->saved_tensors) {
            if (storages.insert(saved.storage.get()).second) {
                s.cost.saved_bytes += saved.storage->array.size() * sizeof(T);
            }
        }
        if (impl == nn::BatchNormImpl::composite && (e.label == "xhat" || e.label == "sigma2" || e.label == "mu")) {
            e.tensor->retains_grad = true;
            kept[e.label] = e.handle();
        }
    }
    y.backward(c.dy);

    s.q["y"] = y.value();
    s.q["dx"] = x.grad();
    if (*norm.weight) {
        s.q["dgamma"] = (*norm.weight)->grad();
        s.q["dbeta"] = (*norm.bias)->grad();
    }
    if (norm.batch && norm.batch->running && c.training) {
        s.q["running_mean"] = norm.batch->running->mean.value();
        s.q["running_var"] = norm.batch->running->var.value();
    }
    const Shape stat = c.stat_shape();
    if (impl == nn::BatchNormImpl::composite) {
        for (const char* name : {"xhat", "sigma2", "mu"}) {
            if (kept.count(name)) {
                Array<T> g = kept[name].grad();
                if (std::string(name) != "xhat") {
                    g.reshape(stat);
                }
                s.q[std::string("d") + name] = g;
            }
        }
    } else if (c.kind == NormKind::batch) {
        // the same intermediate gradients, from the derivation's own lines
        const Axes axes = channel_axes(c.x.dimension());
        const Array<T> gamma = c.gamma_or_ones(), beta = c.beta_or_zeros();
        const auto stats = !c.batch_statistics()
                               ? batchnorm_forward_eval(c.x, gamma, beta, c.running_mean.value_or(Array<T>(xt::zeros<T>(stat))),
                                                        c.running_var.value_or(Array<T>(xt::ones<T>(stat))), axes, c.options.eps)
                               : batchnorm_forward(c.x, gamma, beta, axes, c.options.eps);
        const BatchNormStages<T> st = batchnorm_backward_stages(c.dy, stats.second);
        s.q["dxhat"] = st.dxhat;
        if (c.batch_statistics()) {
            s.q["dsigma2"] = st.dsigma2;
            s.q["dmu"] = st.dmu;
        }
    } else {
        // layer and group norm: the same lines over each row of the set view
        const NormRows<T> r = norm_rows(c);
        const T n = static_cast<T>(c.set_size());
        Array<T> dxhat = r.dxhat;
        dxhat.reshape(c.x.shape());
        s.q["dxhat"] = dxhat;
        Array<T> dsigma2 = T(-0.5) * xt::sum(r.dxhat * r.xc, {1}) * r.inv_std * r.inv_std * r.inv_std;
        Array<T> dmu = -xt::sum(r.dxhat, {1}) * r.inv_std + dsigma2 * (T(-2) / n) * xt::sum(r.xc, {1});
        dsigma2.reshape(stat);
        dmu.reshape(stat);
        s.q["dsigma2"] = dsigma2;
        s.q["dmu"] = dmu;
    }

    std::vector<double> times;
    for (std::size_t k = 0; k < options.repeats; ++k) {
        Tensor<T> xk(c.x, true);
        norm.module->zero_grad();
        const auto t0 = std::chrono::steady_clock::now();
        Tensor<T> yk = norm(xk);
        yk.backward(c.dy);
        const auto t1 = std::chrono::steady_clock::now();
        times.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    std::sort(times.begin(), times.end());
    s.cost.median_us = times.empty() ? 0.0 : times[times.size() / 2];
    return s;
}

// Central differences of L = sum(dy * norm(x, gamma, beta)) in float64, through the plain forward
// function: independent of both backward implementations.
template <class T>
std::map<std::string, Array<double>> numeric_gradients(const NormCase<T>& c) {
    const NormCase<double> d = c.template as<double>();
    Array<double> x = d.x;
    Array<double> gamma = d.gamma_or_ones();
    Array<double> beta = d.beta_or_zeros();
    auto loss = [&]() {
        const Array<double> y = d.reference_forward(x, gamma, beta);
        double l = 0;
        for (std::size_t i = 0; i < y.size(); ++i) {
            l += d.dy.data()[i] * y.data()[i];
        }
        return l;
    };
    auto diff = [&](Array<double>& v) {
        Array<double> g = tg::empty<double>(v.shape());
        // cs231n's step (eval_numerical_gradient_array), so that the figures compare with its
        // notebook's: about 1e-8 and below is agreement, the rest is the difference formula's own error
        const double h = 1e-5;
        for (std::size_t i = 0; i < v.size(); ++i) {
            const double keep = v.data()[i];
            v.data()[i] = keep + h;
            const double plus = loss();
            v.data()[i] = keep - h;
            const double minus = loss();
            v.data()[i] = keep;
            g.data()[i] = (plus - minus) / (2 * h);
        }
        return g;
    };
    std::map<std::string, Array<double>> out;
    out["dx"] = diff(x);
    if (c.options.affine) {
        out["dgamma"] = diff(gamma);
        out["dbeta"] = diff(beta);
    }
    return out;
}

}  // namespace

template <class T>
Report compare_norm(const NormCase<T>& c, const ReportOptions& options) {
    Report r;
    r.dtype = dtype_name<T>();
    r.shape = c.x.shape();
    r.what = c.title();
    r.training = c.training;
    r.repeats = options.repeats;
    const Side<T> comp = run_side(c, nn::BatchNormImpl::composite, options);
    const Side<T> fused = run_side(c, nn::BatchNormImpl::fused, options);
    r.composite = comp.cost;
    r.fused = fused.cost;

    std::map<std::string, Array<double>> numeric;
    if (c.x.size() <= options.numeric_limit) {
        numeric = numeric_gradients(c);
    } else {
        r.numeric_note = fmt::format("central differences skipped: X has {} elements, more than the limit of {}",
                                     c.x.size(), options.numeric_limit);
    }
    for (const char* q : {"y", "dx", "dgamma", "dbeta", "running_mean", "running_var", "dxhat", "dsigma2", "dmu"}) {
        if (!comp.q.count(q) || !fused.q.count(q)) {
            continue;
        }
        ReportRow row = compare_arrays(q, comp.q.at(q), fused.q.at(q));
        if (numeric.count(q)) {
            row.numeric_composite = cs231n_rel_error(xt::cast<double>(comp.q.at(q)), numeric.at(q));
            row.numeric_fused = cs231n_rel_error(xt::cast<double>(fused.q.at(q)), numeric.at(q));
        }
        r.rows.push_back(row);
    }
    return r;
}

// ---- formats --------------------------------------------------------------------------------

namespace {

std::string num(const std::optional<double>& v) { return v ? fmt::format("{:.2e}", *v) : "-"; }

// What the reports say under their tables, the same words in every format.
const char* const numeric_legend =
    "numeric: cs231n's rel_error of each side's gradient against central differences in float64 with h = 1e-5, as "
    "cs231n's notebook checks it (about 1e-8 and below is agreement: the rest is the differences' own error)";
const char* const last_bits_legend =
    "exact: bit for bit. Where it says no, the two differ by rounding alone: a few units in the last place of the "
    "numbers they are computed from (max abs diff about 1e-16 to 1e-15 in float64, 1e-7 in float32). Both add the "
    "same terms in a different order (the composite graph sums node by node and adds xc's two contributions at the "
    "end; the fused kernel sums dy and dy * xhat in one pass), and floating-point addition is not associative, so the "
    "order changes the rounding, not the formula. A larger max rel diff (dx's) comes from elements near zero, where "
    "dx's three terms nearly cancel and the same rounding is large against the small result.";
const char* const nodes_legend =
    "op nodes on the tape: the ops the backward pass walks (the composite's primitives; the fused node is one). Bytes "
    "held for backward: the distinct arrays the nodes saved for their backward.";


std::string title(const Report& r) {
    return fmt::format("Composite vs fused {}: {}, X {}{}", r.what, r.dtype, shape_str(r.shape),
                       r.what == "batch norm" ? (r.training ? ", training mode" : ", evaluation mode") : "");
}

}  // namespace

std::string report_text(const Report& r) {
    std::string out = title(r) + "\n\n";
    out += fmt::format("{:<13}{:>6}{:>14}{:>14}{:>12}{:>17}{:>17}\n", "quantity", "exact", "max abs diff",
                       "max rel diff", "rel_error", "numeric (comp.)", "numeric (fused)");
    for (const auto& row : r.rows) {
        out += fmt::format("{:<13}{:>6}{:>14.2e}{:>14.2e}{:>12.2e}{:>17}{:>17}\n", row.quantity, row.exact ? "yes" : "no",
                           row.max_abs, row.max_rel, row.rel_error, num(row.numeric_composite), num(row.numeric_fused));
    }
    out += wrapped(last_bits_legend) + wrapped(numeric_legend);
    if (!r.numeric_note.empty()) {
        out += "(" + r.numeric_note + ")\n";
    }
    out += fmt::format("\n{:<26}{:>14}{:>14}\n", "", "composite", "fused");
    out += fmt::format("{:<26}{:>14}{:>14}\n", "op nodes on the tape", r.composite.nodes, r.fused.nodes);
    out += fmt::format("{:<26}{:>14}{:>14}\n", "bytes held for backward", r.composite.saved_bytes, r.fused.saved_bytes);
    out += fmt::format("{:<26}{:>14.1f}{:>14.1f}\n", fmt::format("median fwd+bwd, us ({})", r.repeats),
                       r.composite.median_us, r.fused.median_us);
    out += wrapped(nodes_legend);
    return out;
}

std::string report_html(const Report& r) {
    const auto esc = html_escape;
    std::string out = "<h2>" + esc(title(r)) + "</h2>\n<table class=\"grid\"><tr><th>quantity</th><th>exact</th><th>max abs diff</th>"
                      "<th>max rel diff</th><th>rel_error</th><th>numeric err (composite)</th><th>numeric err (fused)</th></tr>\n";
    for (const auto& row : r.rows) {
        out += fmt::format("<tr><td>{}</td><td>{}</td><td>{:.2e}</td><td>{:.2e}</td><td>{:.2e}</td><td>{}</td><td>{}</td></tr>\n",
                           row.quantity, row.exact ? "yes" : "no", row.max_abs, row.max_rel, row.rel_error,
                           num(row.numeric_composite), num(row.numeric_fused));
    }
    out += fmt::format("</table>\n<p class=\"note\">{}</p>\n<p class=\"note\">{}</p>\n", esc(last_bits_legend), esc(numeric_legend));
    if (!r.numeric_note.empty()) {
        out += "<p class=\"note\">" + esc(r.numeric_note) + "</p>\n";
    }
    out += "<table class=\"grid\"><tr><th></th><th>composite</th><th>fused</th></tr>\n";
    out += fmt::format("<tr><td>op nodes on the tape</td><td>{}</td><td>{}</td></tr>\n", r.composite.nodes, r.fused.nodes);
    out += fmt::format("<tr><td>bytes held for backward</td><td>{}</td><td>{}</td></tr>\n", r.composite.saved_bytes,
                       r.fused.saved_bytes);
    out += fmt::format("<tr><td>median forward+backward ({} runs)</td><td>{:.1f} us</td><td>{:.1f} us</td></tr>\n</table>\n",
                       r.repeats, r.composite.median_us, r.fused.median_us);
    out += fmt::format("<p class=\"note\">{}</p>\n", esc(nodes_legend));
    return out;
}

std::string report_markdown(const Report& r) {
    std::string out = "### " + title(r) + "\n\n";
    out += "| quantity | exact | max abs diff | max rel diff | rel_error | numeric err (composite) | numeric err (fused) |\n";
    out += "|---|---|---|---|---|---|---|\n";
    for (const auto& row : r.rows) {
        out += fmt::format("| {} | {} | {:.2e} | {:.2e} | {:.2e} | {} | {} |\n", row.quantity, row.exact ? "yes" : "no",
                           row.max_abs, row.max_rel, row.rel_error, num(row.numeric_composite), num(row.numeric_fused));
    }
    out += fmt::format("\n{}\n\n{}\n", last_bits_legend, numeric_legend);
    if (!r.numeric_note.empty()) {
        out += "\n(" + r.numeric_note + ")\n";
    }
    out += "\n| | composite | fused |\n|---|---|---|\n";
    out += fmt::format("| op nodes on the tape | {} | {} |\n", r.composite.nodes, r.fused.nodes);
    out += fmt::format("| bytes held for backward | {} | {} |\n", r.composite.saved_bytes, r.fused.saved_bytes);
    out += fmt::format("| median forward+backward ({} runs) | {:.1f} us | {:.1f} us |\n", r.repeats, r.composite.median_us,
                       r.fused.median_us);
    out += fmt::format("\n{}\n", nodes_legend);
    return out;
}

nlohmann::json report_json(const Report& r) {
    nlohmann::json j{{"norm", r.what}, {"dtype", r.dtype}, {"shape", r.shape}, {"mode", r.training ? "train" : "eval"}, {"repeats", r.repeats}};
    j["rows"] = nlohmann::json::array();
    for (const auto& row : r.rows) {
        nlohmann::json jr{{"quantity", row.quantity}, {"exact", row.exact}, {"max_abs_diff", row.max_abs},
                          {"max_rel_diff", row.max_rel}, {"rel_error", row.rel_error}};
        jr["numeric_error_composite"] = row.numeric_composite ? nlohmann::json(*row.numeric_composite) : nlohmann::json();
        jr["numeric_error_fused"] = row.numeric_fused ? nlohmann::json(*row.numeric_fused) : nlohmann::json();
        j["rows"].push_back(jr);
    }
    for (const auto& [name, side] : {std::pair<const char*, const ReportSide&>{"composite", r.composite},
                                     std::pair<const char*, const ReportSide&>{"fused", r.fused}}) {
        j[name] = {{"nodes", side.nodes}, {"saved_bytes", side.saved_bytes}, {"median_us", side.median_us}};
    }
    if (!r.numeric_note.empty()) {
        j["numeric_note"] = r.numeric_note;
    }
    return j;
}

template Report compare_norm(const NormCase<float>&, const ReportOptions&);
template Report compare_norm(const NormCase<double>&, const ReportOptions&);
template ReportRow compare_arrays(const std::string&, const Array<float>&, const Array<float>&);
template ReportRow compare_arrays(const std::string&, const Array<double>&, const Array<double>&);

}  // namespace tg::see
