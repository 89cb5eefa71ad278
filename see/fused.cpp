#include "see/fused.hpp"

#include <fmt/format.h>

#include <map>

#include "ops/batchnorm.hpp"
#include "ops/batchnorm_arrays.hpp"
#include "ops/norm_layout.hpp"
#include "ops/broadcast.hpp"
#include "see/textbook.hpp"
#include "see/trace.hpp"
#include "see/values.hpp"

namespace tg::see {

namespace {

template <class T>
double max_abs_diff(const Array<T>& a, const Array<T>& b) {
    if (a.size() != b.size()) {
        return std::numeric_limits<double>::infinity();
    }
    double m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        m = std::max(m, std::abs(static_cast<double>(a.data()[i]) - static_cast<double>(b.data()[i])));
    }
    return m;
}

// The composite graph's values on the same case, by textbook quantity (and "1 / std"), to say
// which quantity each stage equals.
template <class T>
std::map<std::string, Array<T>> composite_quantities(const NormCase<T>& c) {
    std::map<std::string, Array<T>> comp;
    auto norm = c.make_norm(nn::BatchNormImpl::composite);
    Tensor<T> x = Tensor<T>(c.x, true).named("X");
    const Trace<T> trace = trace_backward<T>(norm(x), c.dy);
    for (const auto& line : textbook_lines(trace, c.kind)) {
        comp[line.quantity] = line.value;
    }
    for (const auto& f : trace.forward) {
        if (f.output == "std") {
            comp["1 / std"] = Array<T>(T(1) / f.value);
        }
    }
    return comp;
}

// The stages in order, each set against the composite quantity it equals (when there is one).
template <class T>
struct StageList {
    std::map<std::string, Array<T>> comp;
    std::vector<FusedStage<T>> stages;
    void add(const std::string& name, const std::string& formula, Array<T> value, const std::string& equals) {
        FusedStage<T> s{name, formula, std::move(value), equals, 0.0};
        if (comp.count(equals)) {
            s.max_abs_diff = max_abs_diff(s.value, comp.at(equals));
        } else {
            s.equals.clear();
        }
        stages.push_back(std::move(s));
    }
};

// Layer and group norm: gamma varies inside a set, so the closed form is written with dxhat =
// gamma * g and the parameters' sums run across the sets, not along them.
template <class T>
std::vector<FusedStage<T>> row_stages(const NormCase<T>& c) {
    StageList<T> list{composite_quantities(c), {}};
    const Shape xs = c.x.shape();
    auto add = [&](const char* name, const std::string& formula, Array<T> value, const char* equals, bool full) {
        if (full) {
            value.reshape(xs);  // from the (sets, N) view back to x's shape
        }
        list.add(name, formula, std::move(value), equals);
    };
    const NormRows<T> r = norm_rows(c);
    const auto per_set = [](const Array<T>& a) { return xt::view(a, xt::all(), xt::newaxis()); };
    const Array<T> sum_d = xt::sum(r.dxhat, {1});
    const Array<T> sum_dx = xt::sum(Array<T>(r.dxhat * r.xhat), {1});
    const T inv_n = static_cast<T>(1.0 / static_cast<double>(c.set_size()));
    const std::string sets = c.kind == NormKind::layer ? "over each sample's normalised dimensions"
                                                       : "over each sample's group";
    add("dxhat", c.options.affine ? "gamma * g (gamma changes inside a set: it stays inside the sums)" : "g (no gamma)",
        r.dxhat, "dL/dxhat", true);
    add("sum(dxhat)", "sum of dxhat " + sets, sum_d, "", false);
    add("sum(dxhat * xhat)", "sum of dxhat * xhat " + sets, sum_dx, "", false);
    add("inv_std", "1 / sqrt(sigma2 + eps), sigma2 the biased variance of the set", r.inv_std, "1 / std", false);
    const Array<T> t1 = per_set(r.inv_std) * r.dxhat;
    const Array<T> t2 = xt::broadcast(per_set(Array<T>(-r.inv_std * inv_n * sum_d)), r.dxhat.shape());
    const Array<T> t3 = -per_set(r.inv_std) * inv_n * r.xhat * per_set(sum_dx);
    add("term 1", "inv_std * dxhat", t1, "dL/dX from xhat", true);
    add("term 2", "-inv_std / N * sum(dxhat)", t2, "dL/dX from mu", true);
    add("term 3", "-inv_std / N * xhat * sum(dxhat * xhat)", t3, "dL/dX from sigma2", true);
    add("dx", "term 1 + term 2 + term 3 = inv_std / N * (N dxhat - sum(dxhat) - xhat sum(dxhat xhat))",
        Array<T>(t1 + t2 + t3), "dL/dX", true);
    if (c.options.affine) {
        // the parameters' sums, across the sets
        Array<T> xhat = r.xhat;
        xhat.reshape(xs);
        const Axes across = c.kind == NormKind::layer ? [&] {
            Axes a;
            for (std::size_t k = 0; k + c.normalized_shape.size() < xs.size(); ++k) a.push_back(k);
            return a;
        }()
                                                        : channel_axes(xs.size());
        add("dgamma", "sum of g * xhat across the sets (over the samples)",
            Array<T>(xt::sum(Array<T>(c.dy * xhat), across, xt::evaluation_strategy::immediate)), "dL/dgamma", false);
        add("dbeta", "sum of g across the sets (over the samples)",
            Array<T>(xt::sum(c.dy, across, xt::evaluation_strategy::immediate)), "dL/dbeta", false);
    }
    return list.stages;
}

}  // namespace

template <class T>
std::vector<FusedStage<T>> fused_stages(const NormCase<T>& c) {
    if (c.kind != NormKind::batch) {
        return row_stages(c);
    }
    const std::size_t rank = c.x.dimension();
    const std::size_t C = c.x.shape()[1];
    const Axes axes = channel_axes(rank);
    Shape keep(rank, 1);  // a per-feature value, broadcastable against x: (1, C) or (1, C, 1, 1)
    keep[1] = C;
    auto per_feature = [&](const Array<T>& a) {  // summed over every axis but the feature axis
        Array<T> s = xt::sum(a, axes, xt::evaluation_strategy::immediate);
        return s;
    };
    auto spread = [&](Array<T> p) {
        p.reshape(keep);
        return p;
    };
    const Array<T> gamma = c.gamma.value_or(Array<T>(xt::ones<T>({C})));
    const Array<T> beta = c.beta.value_or(Array<T>(xt::zeros<T>({C})));
    const double n = static_cast<double>(c.x.size() / C);
    const Array<T>& g = c.dy;

    // the textbook reads a training-mode graph; in evaluation mode the stages stand alone
    StageList<T> list{c.training ? composite_quantities(c) : std::map<std::string, Array<T>>(), {}};
    auto add = [&](const char* name, const char* formula, Array<T> value, const char* equals) {
        list.add(name, formula, std::move(value), equals);
    };
    if (!c.training) {
        const bool cs = c.options.convention == nn::Convention::cs231n;
        const Array<T> rv = c.running_var.value_or(cs ? Array<T>(xt::zeros<T>({C})) : Array<T>(xt::ones<T>({C})));
        const Array<T> inv_std = T(1) / xt::sqrt(rv + static_cast<T>(c.options.eps));
        const Array<T> rm = c.running_mean.value_or(Array<T>(xt::zeros<T>({C})));
        const Array<T> xhat = (c.x - spread(rm)) * spread(inv_std);
        add("sum(g)", "sum of dL/dy over the batch = dL/dbeta", per_feature(g), "dL/dbeta");
        add("sum(g * xhat)", "= dL/dgamma (xhat from the running statistics)", per_feature(Array<T>(g * xhat)), "dL/dgamma");
        add("inv_std", "1 / sqrt(running_var + eps): a constant in evaluation mode", inv_std, "");
        add("dx", "gamma * inv_std * g", Array<T>(spread(gamma) * spread(inv_std) * g), "dL/dX");
        return list.stages;
    }
    const auto [y, cache] = batchnorm_forward(c.x, gamma, beta, axes, c.options.eps);
    (void)y;
    const Array<T> inv_std = xt::cast<T>(cache.inv_std);
    const Array<T> mean = xt::cast<T>(cache.mean);
    const Array<T> xhat = (c.x - spread(mean)) * spread(inv_std);
    const Array<T> sum_g = per_feature(g);
    const Array<T> sum_gx = per_feature(Array<T>(g * xhat));
    const Array<T> k = spread(Array<T>(gamma * inv_std));
    const T inv_n = static_cast<T>(1.0 / n);
    add("sum(g)", "sum of dL/dy over the batch", sum_g, "dL/dbeta");
    add("sum(g * xhat)", "sum of dL/dy * xhat over the batch", sum_gx, "dL/dgamma");
    add("inv_std", "1 / sqrt(sigma2 + eps), sigma2 the biased batch variance", inv_std, "1 / std");
    const Array<T> t1 = k * g;
    const Array<T> t2 = broadcast_to<T>(Array<T>(-k * inv_n * spread(sum_g)), c.x.shape());
    const Array<T> t3 = -k * inv_n * xhat * spread(sum_gx);
    add("term 1", "gamma * inv_std * g", t1, "dL/dX from xhat");
    add("term 2", "-gamma * inv_std / N * sum(g)", t2, "dL/dX from mu");
    add("term 3", "-gamma * inv_std / N * xhat * sum(g * xhat)", t3, "dL/dX from sigma2");
    add("dx", "term 1 + term 2 + term 3 = gamma * inv_std / N * (N g - sum(g) - xhat sum(g xhat))", Array<T>(t1 + t2 + t3),
        "dL/dX");
    return list.stages;
}

template <class T>
std::string fused_stages_text(const std::vector<FusedStage<T>>& stages, std::size_t max_values) {
    std::string out = fmt::format(
        "Inside the fused node: its closed-form backward, stage by stage ({} of them; g = dL/dy, N values per set)\n",
        stages.size());
    for (const auto& s : stages) {
        out += fmt::format("\n  {:<14} {}\n  {:<14} = {}\n", s.name, s.formula, "", show(s.value, max_values));
        if (!s.equals.empty()) {
            out += fmt::format("  {:<14} equals the composite graph's {} (max abs diff {:.2e})\n", "", s.equals, s.max_abs_diff);
        }
    }
    return out;
}

template <class T>
std::string fused_stages_markdown(const std::vector<FusedStage<T>>& stages, std::size_t max_values) {
    std::string out = "### Inside the fused node\n\n| stage | formula | value | equals (composite) | max abs diff |\n|---|---|---|---|---|\n";
    for (const auto& s : stages) {
        out += fmt::format("| {} | `{}` | `{}` | {} | {} |\n", s.name, s.formula, show(s.value, max_values),
                           s.equals.empty() ? "-" : s.equals, s.equals.empty() ? "-" : fmt::format("{:.2e}", s.max_abs_diff));
    }
    return out;
}

template <class T>
nlohmann::json fused_stages_json(const std::vector<FusedStage<T>>& stages, std::size_t max_values) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& s : stages) {
        nlohmann::json e{{"stage", s.name}, {"formula", s.formula}, {"value", to_json(s.value, max_values)}};
        if (!s.equals.empty()) {
            e["equals"] = s.equals;
            e["max_abs_diff"] = s.max_abs_diff;
        }
        j.push_back(e);
    }
    return j;
}

#define TG_INSTANTIATE(T)                                                                           \
    template std::vector<FusedStage<T>> fused_stages(const NormCase<T>&);                             \
    template std::string fused_stages_text(const std::vector<FusedStage<T>>&, std::size_t);         \
    template std::string fused_stages_markdown(const std::vector<FusedStage<T>>&, std::size_t);     \
    template nlohmann::json fused_stages_json(const std::vector<FusedStage<T>>&, std::size_t);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg::see
