#include "nn/probes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/engine.hpp"
#include "nn/loss.hpp"
#include "ops/elementwise.hpp"
#include "ops/reductions.hpp"

namespace tg::nn {

std::vector<double> percentiles(std::vector<double> values, const std::vector<double>& qs) {
    if (values.empty()) {
        throw ValueError("percentiles: no values; a percentile needs at least one");
    }
    std::sort(values.begin(), values.end());
    std::vector<double> out;
    for (double q : qs) {
        if (!(q >= 0 && q <= 100)) {
            throw ValueError(fmt::format("percentiles: q = {} is outside [0, 100]", q));
        }
        // rank (n - 1) q / 100, between the values at its floor and its ceiling
        const double rank = (static_cast<double>(values.size()) - 1) * q / 100.0;
        const std::size_t lo = static_cast<std::size_t>(std::floor(rank));
        const std::size_t hi = std::min(lo + 1, values.size() - 1);
        const double frac = rank - static_cast<double>(lo);
        out.push_back(values[lo] + (values[hi] - values[lo]) * frac);
    }
    return out;
}

namespace {

template <class T>
double dot(const std::vector<Array<T>>& a, const std::vector<Array<T>>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        for (std::size_t k = 0; k < a[i].size(); ++k) {
            s += static_cast<double>(a[i].data()[k]) * static_cast<double>(b[i].data()[k]);
        }
    }
    return s;
}

template <class T>
void scale(std::vector<Array<T>>& a, double by) {
    for (auto& x : a) {
        x *= static_cast<T>(by);
    }
}

}  // namespace

template <class T>
std::vector<Tensor<T>> loss_gradient(const Tensor<T>& loss, const std::vector<Tensor<T>>& params) {
    GradOptions o;
    o.create_graph = true;
    o.allow_unused = true;
    std::vector<Tensor<T>> g = grad<T>({loss}, params, {}, o);
    for (std::size_t i = 0; i < g.size(); ++i) {
        if (!g[i].defined()) {
            g[i] = Tensor<T>::zeros(params[i].shape());  // a parameter the loss does not use
        }
    }
    return g;
}

template <class T>
std::vector<Array<T>> hessian_vector_product(const std::vector<Tensor<T>>& first, const std::vector<Tensor<T>>& params,
                                             const std::vector<Array<T>>& v) {
    if (first.size() != params.size() || v.size() != params.size()) {
        throw ShapeError(fmt::format("hessian_vector_product: expected one gradient and one vector per parameter ({}); "
                                     "got {} gradients and {} vectors",
                                     params.size(), first.size(), v.size()));
    }
    Tensor<T> inner = Tensor<T>::scalar(T(0));
    bool any = false;
    for (std::size_t i = 0; i < first.size(); ++i) {
        if (first[i].requires_grad()) {  // a gradient with no history is constant: its product adds 0
            inner = inner + sum(first[i] * Tensor<T>(v[i]));
            any = true;
        }
    }
    std::vector<Array<T>> out;
    if (!any) {
        for (const auto& p : params) {
            out.push_back(xt::zeros<T>(p.shape()));
        }
        return out;
    }
    GradOptions o;
    o.retain_graph = true;  // the recorded gradient serves every product
    o.allow_unused = true;
    const std::vector<Tensor<T>> hv = grad<T>({inner}, params, {}, o);
    for (std::size_t i = 0; i < hv.size(); ++i) {
        out.push_back(hv[i].defined() ? hv[i].value() : Array<T>(xt::zeros<T>(params[i].shape())));
    }
    return out;
}

namespace {

// Power iteration on (H - shift I): its eigenvalue of largest magnitude, plus shift.
template <class T>
EigenEstimate power_iteration(const std::vector<Tensor<T>>& first, const std::vector<Tensor<T>>& params, double shift,
                              std::size_t max_products, double tolerance, std::uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> normal;
    std::vector<Array<T>> v;
    for (const auto& p : params) {
        Array<T> r = tg::empty<T>(p.shape());
        for (auto& e : r) {
            e = static_cast<T>(normal(gen));
        }
        v.push_back(std::move(r));
    }
    scale(v, 1.0 / std::sqrt(dot(v, v)));
    EigenEstimate e;
    double previous = 0;
    while (e.products < max_products) {
        std::vector<Array<T>> hv = hessian_vector_product(first, params, v);
        ++e.products;
        if (shift != 0) {
            for (std::size_t i = 0; i < hv.size(); ++i) {
                hv[i] -= static_cast<T>(shift) * v[i];
            }
        }
        const double value = dot(v, hv);  // the Rayleigh quotient of the unit vector v
        e.value = value + shift;
        const double norm = std::sqrt(dot(hv, hv));
        if (norm == 0) {
            e.converged = true;  // (H - shift) v = 0: every later iterate stays here
            break;
        }
        if (e.products > 1 && std::abs(value - previous) <= tolerance * std::abs(value)) {
            e.converged = true;
            break;
        }
        previous = value;
        scale(hv, 1.0 / norm);
        v = std::move(hv);
    }
    return e;
}

}  // namespace

template <class T>
EigenEstimate top_hessian_eigenvalue(const Tensor<T>& loss, const std::vector<Tensor<T>>& params,
                                     std::size_t max_products, double tolerance, std::uint64_t seed) {
    const std::vector<Tensor<T>> first = loss_gradient(loss, params);
    EigenEstimate e = power_iteration(first, params, 0.0, max_products, tolerance, seed);
    if (e.value < 0) {
        // The largest magnitude is negative curvature. H - e.value I has only eigenvalues >= 0, its
        // largest being lambda_max - e.value: a second run finds the top eigenvalue from there.
        const EigenEstimate shifted = power_iteration(first, params, e.value, max_products, tolerance, seed + 1);
        const std::size_t spent = e.products;
        e = shifted;
        e.products += spent;
    }
    return e;
}

template <class T>
LandscapeProbe probe_landscape(const std::vector<Tensor<T>>& params, const LossAndGradient<T>& evaluate,
                               const std::vector<double>& step_sizes) {
    if (step_sizes.empty()) {
        throw ValueError("probe_landscape: no step sizes; give at least one");
    }
    std::vector<Array<T>> start;
    for (const auto& p : params) {
        start.push_back(p.value());
    }
    const std::vector<Array<T>> g0 = evaluate().second;
    const double g_norm = std::sqrt(dot(g0, g0));
    LandscapeProbe probe;
    std::vector<Tensor<T>> moved = params;  // handles to the same parameters
    for (double eta : step_sizes) {
        for (std::size_t i = 0; i < params.size(); ++i) {
            moved[i].mutable_value() = start[i] - static_cast<T>(eta) * g0[i];
        }
        const auto [loss, g] = evaluate();
        probe.losses.push_back(loss);
        std::vector<Array<T>> diff;
        for (std::size_t i = 0; i < g.size(); ++i) {
            diff.push_back(g[i] - g0[i]);
        }
        const double change = std::sqrt(dot(diff, diff));
        probe.gradient_change = std::max(probe.gradient_change, change);
        if (g_norm > 0 && eta > 0) {
            probe.beta_smoothness = std::max(probe.beta_smoothness, change / (eta * g_norm));
        }
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
        moved[i].mutable_value() = start[i];
    }
    const auto [lo, hi] = std::minmax_element(probe.losses.begin(), probe.losses.end());
    probe.loss_range = *hi - *lo;
    return probe;
}

template <class T>
KeepBuffers<T>::KeepBuffers(Module<T>& m) : module_(m) {
    for (const auto& [name, t] : m.named_buffers()) {
        values_.push_back(t.value());
    }
    for (const auto& [name, c] : m.named_counters()) {
        counters_.push_back(*c);
    }
}

template <class T>
KeepBuffers<T>::~KeepBuffers() {
    const auto b = module_.named_buffers();
    for (std::size_t i = 0; i < b.size() && i < values_.size(); ++i) {
        Tensor<T>(b[i].second).mutable_value() = values_[i];
    }
    const auto c = module_.named_counters();
    for (std::size_t i = 0; i < c.size() && i < counters_.size(); ++i) {
        *c[i].second = counters_[i];
    }
}

namespace {

// Mean and unbiased standard deviation of an array's values.
template <class T>
std::pair<double, double> mean_std(const Array<T>& a) {
    const double n = static_cast<double>(a.size());
    double s = 0;
    for (T v : a) {
        s += static_cast<double>(v);
    }
    const double m = n > 0 ? s / n : 0;
    double q = 0;
    for (T v : a) {
        q += (static_cast<double>(v) - m) * (static_cast<double>(v) - m);
    }
    return {m, n > 1 ? std::sqrt(q / (n - 1)) : 0.0};
}

}  // namespace

template <class T>
std::vector<ActivationStats> activation_stats(Sequential<T>& model, const Tensor<T>& x, const std::vector<std::int64_t>& y) {
    KeepBuffers<T> keep(model);
    std::vector<std::pair<std::size_t, Tensor<T>>> outputs;
    Tensor<T> h = x;
    for (std::size_t i = 0; i < model.size(); ++i) {
        h = model[i](h);
        const std::string d = model[i].describe();
        if (d == "ReLU()" || d == "Tanh()" || d == "Sigmoid()") {
            h.retain_grad();
            outputs.push_back({i, h});
        }
    }
    cross_entropy(h, y).backward();
    std::vector<ActivationStats> out;
    for (const auto& [layer, t] : outputs) {
        ActivationStats s;
        s.layer = layer;
        const std::string d = model[layer].describe();
        s.kind = d.substr(0, d.size() - 2);
        std::tie(s.mean, s.std) = mean_std(t.value());
        std::size_t saturated = 0;
        for (T v : t.value()) {
            const double u = static_cast<double>(v);
            saturated += s.kind == "Tanh" ? std::abs(u) > 0.97 : s.kind == "Sigmoid" ? (u < 0.015 || u > 0.985) : u == 0.0;
        }
        s.saturated = t.numel() ? static_cast<double>(saturated) / static_cast<double>(t.numel()) : 0.0;
        std::tie(s.grad_mean, s.grad_std) = mean_std(t.grad());
        out.push_back(s);
    }
    return out;
}

template <class T>
std::vector<UpdateRatio> update_ratios(const std::vector<Array<T>>& before, const Module<T>& model) {
    const auto params = model.named_parameters();
    if (before.size() != params.size()) {
        throw ShapeError(fmt::format("update_ratios: expected the values of all {} parameters before the step, got {}",
                                     params.size(), before.size()));
    }
    std::vector<UpdateRatio> out;
    for (std::size_t i = 0; i < params.size(); ++i) {
        const Array<T>& after = params[i].second.value();
        if (after.dimension() != 2) {
            continue;
        }
        const double update = mean_std(Array<T>(after - before[i])).second;
        const double data = mean_std(after).second;
        out.push_back({params[i].first, std::log10(update / data)});
    }
    return out;
}

#define TG_INSTANTIATE(T)                                                                                         \
    template std::vector<Tensor<T>> loss_gradient(const Tensor<T>&, const std::vector<Tensor<T>>&);              \
    template std::vector<Array<T>> hessian_vector_product(const std::vector<Tensor<T>>&,                         \
                                                          const std::vector<Tensor<T>>&, const std::vector<Array<T>>&); \
    template EigenEstimate top_hessian_eigenvalue(const Tensor<T>&, const std::vector<Tensor<T>>&, std::size_t,  \
                                                  double, std::uint64_t);                                         \
    template LandscapeProbe probe_landscape(const std::vector<Tensor<T>>&, const LossAndGradient<T>&,            \
                                            const std::vector<double>&);
#define TG_INSTANTIATE_MODULE(T)                                                                                \
    template class KeepBuffers<T>;                                                                              \
    template std::vector<ActivationStats> activation_stats(Sequential<T>&, const Tensor<T>&,                     \
                                                           const std::vector<std::int64_t>&);                    \
    template std::vector<UpdateRatio> update_ratios(const std::vector<Array<T>>&, const Module<T>&);
TG_INSTANTIATE_MODULE(float)
TG_INSTANTIATE_MODULE(double)
#undef TG_INSTANTIATE_MODULE
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg::nn
