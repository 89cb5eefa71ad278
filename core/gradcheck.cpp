#include "core/gradcheck.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>

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

// L = sum(u * f(inputs)), evaluated without recording.
double probe(const GradcheckFn& f, const std::vector<Tensor<double>>& inputs, const Array<double>& u) {
    NoGradGuard no_grad;
    const Tensor<double> out = f(inputs);
    return xt::sum(u * out.value(), xt::evaluation_strategy::immediate)();
}

}  // namespace

GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor<double>>& inputs,
                          GradcheckOptions options) {
    for (auto input : inputs) {
        input.zero_grad();
    }
    const Tensor<double> out = f(inputs);
    if (!out.requires_grad()) {
        throw GraphError(
            "gradcheck: the function's output does not depend on any input that requires a "
            "gradient; create the inputs to check with requires_grad = true");
    }
    std::mt19937_64 rng(options.seed);
    std::uniform_real_distribution<double> dist(-1.0, 1.0);
    Array<double> u = xt::empty<double>(out.shape());
    for (auto& v : u) {
        v = dist(rng);
    }
    out.backward(u);

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
            const double plus = probe(f, inputs, u);
            v.data()[j] = saved - options.eps;
            const double minus = probe(f, inputs, u);
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

}  // namespace tg
