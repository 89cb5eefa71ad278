#include "ops/batchnorm.hpp"

#include <fmt/format.h>

#include <cmath>

#include "ops/elementwise.hpp"
#include "ops/reductions.hpp"
#include "ops/shape.hpp"

namespace tg {

namespace {

// Checks the input and the parameters, and that training has more than one value per feature
// (the variance of one value is 0 and its gradient meaningless; PyTorch refuses it too).
template <class T>
ChannelLayout checked_layout(const char* op, const Tensor<T>& x, const OptionalTensor<T>& gamma,
                             const OptionalTensor<T>& beta, const Axes& axes, bool training) {
    const ChannelLayout L = channel_layout(op, x.shape(), axes);
    if (gamma) {
        check_per_feature(op, "gamma", gamma->shape(), L);
    }
    if (beta) {
        check_per_feature(op, "beta", beta->shape(), L);
    }
    if (training && L.count() <= 1) {
        throw ValueError(fmt::format(
            "{}: expected more than 1 value per feature when training, got input of shape {}; use "
            "a larger batch, or evaluation mode",
            op, shape_str(x.shape())));
    }
    return L;
}

// The same for evaluation mode, and the running statistics' shapes with them.
template <class T>
ChannelLayout checked_eval_layout(const char* op, const Tensor<T>& x, const OptionalTensor<T>& gamma,
                                  const OptionalTensor<T>& beta, const Array<T>& mean, const Array<T>& var,
                                  const Axes& axes) {
    const ChannelLayout L = checked_layout(op, x, gamma, beta, axes, false);
    check_per_feature(op, "the mean", mean.shape(), L);
    check_per_feature(op, "the variance", var.shape(), L);
    return L;
}

// Statistics and parameters of shape stat_shape broadcast against x as they are when the reduced
// axes lead ((N, C) with axes {0}); otherwise they are reshaped to keep_shape ((1, C, 1)).
bool reduced_axes_lead(const Axes& axes) {
    for (std::size_t i = 0; i < axes.size(); ++i) {
        if (axes[i] != i) {
            return false;
        }
    }
    return true;
}

template <class T>
Tensor<T> as_broadcastable(const Tensor<T>& p, const ChannelLayout& L, bool lead) {
    if (lead) {
        return p;
    }
    return reshape(p, std::vector<long>(L.keep_shape.begin(), L.keep_shape.end()));
}

template <class T>
Tensor<T> scale_and_shift(const Tensor<T>& xhat, const OptionalTensor<T>& gamma,
                          const OptionalTensor<T>& beta, const ChannelLayout& L, bool lead) {
    Tensor<T> y = xhat;
    if (gamma) {
        y = as_broadcastable(*gamma, L, lead) * y;
    }
    if (beta) {
        y = y + as_broadcastable(*beta, L, lead);
    }
    return gamma || beta ? y.named("y") : y;
}

constexpr const char* training_rule =
    "dx = gamma*inv_std/N * (N*g - sum(g) - xhat*sum(g*xhat)), dgamma = sum(g*xhat), dbeta = sum(g)";
constexpr const char* eval_rule = "dx = gamma*inv_std*g, dgamma = sum(g*xhat), dbeta = sum(g)";

}  // namespace

// ---- composite: the textbook graph, no backward code --------------------------------------

template <class T>
BatchNormOutput<T> batchnorm_composite(const Tensor<T>& x, const OptionalTensor<T>& gamma,
                                       const OptionalTensor<T>& beta, const Axes& axes, double eps) {
    const ChannelLayout L = checked_layout("batchnorm_composite", x, gamma, beta, axes, true);
    const bool lead = reduced_axes_lead(axes);
    const std::vector<int> ax(axes.begin(), axes.end());

    // the family's builder (ops/norm.cpp): mu -> xc -> sigma2 -> std -> xhat over the batch axes
    const NormGraph<T> g = normalize_composite(x, ax, !lead, eps);

    BatchNormOutput<T> out;
    out.y = scale_and_shift(g.xhat, gamma, beta, L, lead);
    out.batch_mean = xt::cast<double>(g.mu.value());
    out.batch_mean.reshape(L.stat_shape);
    out.batch_var = xt::cast<double>(g.sigma2.value());
    out.batch_var.reshape(L.stat_shape);
    out.count = L.count();
    return out;
}

template <class T>
Tensor<T> batchnorm_composite_eval(const Tensor<T>& x, const OptionalTensor<T>& gamma,
                                   const OptionalTensor<T>& beta, const Array<T>& mean_,
                                   const Array<T>& var_, const Axes& axes, double eps) {
    const ChannelLayout L = checked_eval_layout("batchnorm_composite_eval", x, gamma, beta, mean_, var_, axes);
    const bool lead = reduced_axes_lead(axes);
    const Shape& stat_shape = lead ? L.stat_shape : L.keep_shape;
    Array<T> m = mean_;
    Array<T> v = var_;
    m.reshape(stat_shape);
    v.reshape(stat_shape);
    // The running statistics enter as constants: no gradient flows into them.
    Tensor<T> running_mean = Tensor<T>(std::move(m)).named("running_mean");
    Tensor<T> running_var = Tensor<T>(std::move(v)).named("running_var");

    Tensor<T> xc = (x - running_mean).named("xc");
    Tensor<T> sigma = sqrt(running_var + eps).named("std");
    Tensor<T> xhat = (xc / sigma).named("xhat");
    return scale_and_shift(xhat, gamma, beta, L, lead);
}

// ---- fused: one node, closed-form backward --------------------------------------------------
//
// The closed form is the family's, derived once in ops/norm.cpp beside normalized_backward_reference.
// gamma is constant over a channel's values, so it comes out of the sums:
//   dL/dx = gamma s / N * (N dy - sum(dy) - xhat sum(dy xhat)),  dgamma = sum(dy xhat),  dbeta = sum(dy)
// with s = 1/sqrt(sigma2 + eps). In evaluation mode mu and sigma2 are constants: dL/dx = gamma s dy.
// Written with ops (run under create_graph, and the reference the kernels are tested against):

template <class T>
NormGradTensors<T> batchnorm_backward_reference(const Tensor<T>& g, const Tensor<T>& x, const OptionalTensor<T>& gamma,
                                                const Axes& axes, double eps, bool training,
                                                const Array<double>& mean_, const Array<double>& var_) {
    const ChannelLayout L = channel_layout("batchnorm_backward_reference", x.shape(), axes);
    const std::vector<int> ax(axes.begin(), axes.end());
    const std::vector<long> keep(L.keep_shape.begin(), L.keep_shape.end());
    const Tensor<T> dxhat = gamma ? g * reshape(*gamma, keep) : g;
    NormGradTensors<T> r;
    Tensor<T> xhat;
    if (training) {  // the family's closed form (ops/norm.cpp), statistics recomputed from x
        r.dx = normalized_backward_reference(dxhat, x, ax, eps, &xhat);
    } else {  // the given statistics, constants
        const Tensor<T> mu = reshape(Tensor<T>(Array<T>(xt::cast<T>(mean_))), keep);
        const Tensor<T> inv_std = reshape(Tensor<T>(Array<T>(xt::cast<T>(1.0 / xt::sqrt(var_ + eps)))), keep);
        xhat = (x - mu) * inv_std;
        r.dx = inv_std * dxhat;
    }
    r.dgamma = sum(g * xhat, ax);
    r.dbeta = sum(g, ax);
    return r;
}

template <class T>
BatchNormOutput<T> batchnorm_fused(const Tensor<T>& x, const OptionalTensor<T>& gamma,
                                   const OptionalTensor<T>& beta, const Axes& axes, double eps) {
    const ChannelLayout L = checked_layout("batchnorm_fused", x, gamma, beta, axes, true);
    BatchNormOutput<T> out;
    out.batch_mean = tg::empty<double>(L.stat_shape);
    out.batch_var = tg::empty<double>(L.stat_shape);
    Array<double> inv_std = tg::empty<double>(L.stat_shape);
    Array<T> y = tg::empty<T>(x.shape());
    norm_forward(x.value().data(), L, data_or_null(gamma), data_or_null(beta), eps, out.batch_mean.data(),
                 out.batch_var.data(), inv_std.data(), y.data());
    auto reference = [axes, eps](const Tensor<T>& g, const Tensor<T>& xs, const OptionalTensor<T>& gm) {
        return batchnorm_backward_reference(g, xs, gm, axes, eps, true);
    };
    out.y = record_fused_norm<T>(std::move(y), "batch_norm", training_rule, x, gamma, beta, L, out.batch_mean,
                                 std::move(inv_std), true, reference);
    out.count = L.count();
    return out;
}

template <class T>
Tensor<T> batchnorm_fused_eval(const Tensor<T>& x, const OptionalTensor<T>& gamma,
                               const OptionalTensor<T>& beta, const Array<T>& mean,
                               const Array<T>& var, const Axes& axes, double eps) {
    const ChannelLayout L = checked_eval_layout("batchnorm_fused_eval", x, gamma, beta, mean, var, axes);
    Array<double> m = xt::cast<double>(mean), v = xt::cast<double>(var);
    Array<double> inv_std = inv_std_of(v, eps);
    Array<T> y = tg::empty<T>(x.shape());
    norm_apply(x.value().data(), L, m.data(), inv_std.data(), data_or_null(gamma), data_or_null(beta), y.data());
    const std::size_t reference_bytes = (m.size() + v.size()) * sizeof(double);
    auto reference = [axes, eps, m, v](const Tensor<T>& g, const Tensor<T>& xs, const OptionalTensor<T>& gm) {
        return batchnorm_backward_reference(g, xs, gm, axes, eps, false, m, v);
    };
    return record_fused_norm<T>(std::move(y), "batch_norm", eval_rule, x, gamma, beta, L, std::move(m),
                                std::move(inv_std), false, reference, reference_bytes);
}

#define TG_INSTANTIATE(T)                                                                         \
    template NormGradTensors<T> batchnorm_backward_reference(                                \
        const Tensor<T>&, const Tensor<T>&, const OptionalTensor<T>&, const Axes&, double, bool,  \
        const Array<double>&, const Array<double>&);                                              \
    template BatchNormOutput<T> batchnorm_composite(const Tensor<T>&, const OptionalTensor<T>&,   \
                                                    const OptionalTensor<T>&, const Axes&, double); \
    template BatchNormOutput<T> batchnorm_fused(const Tensor<T>&, const OptionalTensor<T>&,       \
                                                const OptionalTensor<T>&, const Axes&, double);   \
    template Tensor<T> batchnorm_composite_eval(const Tensor<T>&, const OptionalTensor<T>&,       \
                                                const OptionalTensor<T>&, const Array<T>&,        \
                                                const Array<T>&, const Axes&, double);            \
    template Tensor<T> batchnorm_fused_eval(const Tensor<T>&, const OptionalTensor<T>&,           \
                                            const OptionalTensor<T>&, const Array<T>&,            \
                                            const Array<T>&, const Axes&, double);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg
