#include "core/gradcheck.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>

#include "core/engine.hpp"

namespace tg {

std::string GradcheckResult::summary() const {
    std::string s = ok ? "gradcheck passed\n" : "gradcheck FAILED\n";
    for (const auto& in : inputs) {
        s += fmt::format("  input {}{}: max abs err {:.3e}, max rel err {:.3e}, rel_error {:.3e}{}\n",
                         in.index, in.name.empty() ? "" : " (" + in.name + ")", in.max_abs_err,
                         in.max_rel_err, in.rel_error, in.ok ? "" : "  <- mismatch");
    }
    return s;
}

namespace {

// L = sum(u * f(inputs)), evaluated without recording, unless f differentiates inside (as the
// function gradgradcheck checks does).
double probe(const GradcheckFn& f, const std::vector<Tensor<double>>& inputs, const Array<double>& u, bool record) {
    std::optional<NoGradGuard> no_grad;
    if (!record) {
        no_grad.emplace();
    }
    const Tensor<double> out = f(inputs);
    return xt::sum(u * out.value(), xt::evaluation_strategy::immediate)();
}

Array<double> uniform(const Shape& shape, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> dist(-1.0, 1.0);
    Array<double> u = tg::empty<double>(shape);
    for (auto& v : u) {
        v = dist(rng);
    }
    return u;
}

GradcheckResult check(const GradcheckFn& f, const std::vector<Tensor<double>>& inputs, GradcheckOptions options,
                      bool record);

}  // namespace

GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor<double>>& inputs,
                          GradcheckOptions options) {
    return check(f, inputs, options, false);
}

GradcheckResult gradgradcheck(const GradcheckFn& f, const std::vector<Tensor<double>>& inputs,
                              GradcheckOptions options) {
    std::vector<Tensor<double>> wrt;
    for (const auto& x : inputs) {
        if (x.requires_grad()) {
            wrt.push_back(x);
        }
    }
    const Tensor<double> y = f(inputs);
    if (!y.requires_grad()) {
        throw GraphError(
            "gradgradcheck: the function's output does not depend on any input that requires a "
            "gradient; create the inputs to check with requires_grad = true");
    }
    Tensor<double> v(uniform(y.shape(), options.seed + 1), true);
    v.named("v");
    std::vector<Tensor<double>> all = inputs;
    all.push_back(v);
    const std::size_t n = inputs.size();
    // Each first derivative d<v, f>/d(wrt[k]) is checked as a function of all inputs and v; an
    // input's report keeps the worst of them.
    GradcheckResult result;
    for (std::size_t k = 0; k < wrt.size(); ++k) {
        auto first = [&f, n, k](const std::vector<Tensor<double>>& args) {
            const std::vector<Tensor<double>> in(args.begin(), args.begin() + static_cast<long>(n));
            std::vector<Tensor<double>> xs;
            for (const auto& x : in) {
                if (x.requires_grad()) {
                    xs.push_back(x);
                }
            }
            const Tensor<double> g = grad<double>({f(in)}, xs, {args[n]}, GradOptions{std::nullopt, true, true})[k];
            // unused: no gradient, the zero function (its own gradient is 0 everywhere)
            return g.defined() ? g : Tensor<double>::zeros(xs[k].shape());
        };
        const GradcheckResult r = check(first, all, options, true);
        if (k == 0) {
            result = r;
            continue;
        }
        result.ok = result.ok && r.ok;
        for (std::size_t i = 0; i < r.inputs.size(); ++i) {
            GradcheckInput& into = result.inputs[i];
            into.max_abs_err = std::max(into.max_abs_err, r.inputs[i].max_abs_err);
            into.max_rel_err = std::max(into.max_rel_err, r.inputs[i].max_rel_err);
            into.rel_error = std::max(into.rel_error, r.inputs[i].rel_error);
            into.ok = into.ok && r.inputs[i].ok;
        }
    }
    return result;
}

namespace {

GradcheckResult check(const GradcheckFn& f, const std::vector<Tensor<double>>& inputs, GradcheckOptions options,
                      bool record) {
    for (auto input : inputs) {
        input.zero_grad();
    }
    const Tensor<double> out = f(inputs);
    // A first derivative that depends on no input (a linear function's) is a constant: its
    // analytic gradient is 0, which the central differences still check.
    if (!out.requires_grad() && !record) {
        throw GraphError(
            "gradcheck: the function's output does not depend on any input that requires a "
            "gradient; create the inputs to check with requires_grad = true");
    }
    const Array<double> u = uniform(out.shape(), options.seed);
    if (out.requires_grad()) {
        out.backward(u);
    }

    GradcheckResult result;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        Tensor<double> x = inputs[i];
        if (!x.requires_grad()) {
            continue;
        }
        const Array<double> analytic =
            x.has_grad() ? x.grad() : Array<double>(xt::zeros<double>(x.shape()));
        GradcheckInput report;
        report.index = i;
        report.name = x.name();
        Array<double>& v = x.mutable_value();
        for (std::size_t j = 0; j < v.size(); ++j) {
            const double saved = v.data()[j];
            v.data()[j] = saved + options.eps;
            const double plus = probe(f, inputs, u, record);
            v.data()[j] = saved - options.eps;
            const double minus = probe(f, inputs, u, record);
            v.data()[j] = saved;
            const double numeric = (plus - minus) / (2 * options.eps);
            const double a = analytic.data()[j];
            const double diff = std::abs(a - numeric);
            const double scale = std::max(std::abs(a), std::abs(numeric));
            report.max_abs_err = std::max(report.max_abs_err, diff);
            report.max_rel_err = std::max(report.max_rel_err, scale > 0 ? diff / scale : 0.0);
            report.rel_error =
                std::max(report.rel_error, diff / std::max(1e-8, std::abs(a) + std::abs(numeric)));
            if (!(diff <= options.atol + options.rtol * std::abs(numeric))) {
                report.ok = false;  // written so that a NaN fails too
            }
        }
        result.ok = result.ok && report.ok;
        result.inputs.push_back(report);
    }
    return result;
}

}  // namespace

}  // namespace tg
