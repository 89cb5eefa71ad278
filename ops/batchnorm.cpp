#include "ops/batchnorm.hpp"

#include <fmt/format.h>

#include <cmath>

#include "ops/batchnorm_kernels.hpp"
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
    const ChannelLayout L = checked_layout("batchnorm_composite_eval", x, gamma, beta, axes, false);
    check_per_feature("batchnorm_composite_eval", "the mean", to_shape(mean_.shape()), L);
    check_per_feature("batchnorm_composite_eval", "the variance", to_shape(var_.shape()), L);
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
// The closed form of the training-mode backward (N values per feature, s = 1/sqrt(sigma2 + eps)):
//
//   xhat = (x - mu) s,  y = gamma xhat + beta
//   dL/dxhat  = gamma dy
//   dL/dsigma2 = sum_i dL/dxhat_i (x_i - mu) (-1/2) s^3
//   dL/dmu    = -s sum_i dL/dxhat_i + dL/dsigma2 (-2/N) sum_i (x_i - mu)      (the last sum is 0)
//   dL/dx_i   = s dL/dxhat_i + dL/dsigma2 2 (x_i - mu)/N + dL/dmu / N
//
// and, substituting, dL/dx = gamma s / N * (N dy - sum(dy) - xhat sum(dy xhat)),
// dgamma = sum(dy xhat), dbeta = sum(dy). In evaluation mode mu and sigma2 are constants and
// dL/dx = gamma s dy. Here it is, written with ops:

template <class T>
BatchNormGradTensors<T> batchnorm_backward_reference(const Tensor<T>& g, const Tensor<T>& x,
                                                     const OptionalTensor<T>& gamma, const Axes& axes,
                                                     double eps, bool training, const Array<double>& mean_,
                                                     const Array<double>& var_) {
    const ChannelLayout L = channel_layout("batchnorm_backward_reference", x.shape(), axes);
    const std::vector<int> ax(axes.begin(), axes.end());
    const std::vector<long> keep(L.keep_shape.begin(), L.keep_shape.end());
    const Tensor<T> dxhat = gamma ? g * reshape(*gamma, keep) : g;
    BatchNormGradTensors<T> r;
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

namespace {

// The parameter's values, or null when the layer has none (no affine).
template <class T>
const T* data_or_null(const OptionalTensor<T>& p) {
    return p ? p->value().data() : nullptr;
}

// Records y, already computed from x with the per-feature mean and 1/std, as one node.
template <class T>
Tensor<T> fused_node(Array<T> y, const Tensor<T>& x, const OptionalTensor<T>& gamma,
                     const OptionalTensor<T>& beta, const ChannelLayout& L, Array<double> mean,
                     Array<double> inv_std, bool training, const Axes& axes, double eps, Array<double> var) {
    std::vector<Tensor<T>> inputs{x};
    std::vector<Tensor<T>> saved{x};  // shared with the input, not copied
    const std::size_t gamma_at = gamma ? inputs.size() : 0;
    if (gamma) {
        inputs.push_back(*gamma);
        saved.push_back(*gamma);
    }
    const std::size_t beta_at = beta ? inputs.size() : 0;
    if (beta) {
        inputs.push_back(*beta);
    }
    const char* rule = training
                           ? "dx = gamma*inv_std/N * (N*g - sum(g) - xhat*sum(g*xhat)), "
                             "dgamma = sum(g*xhat), dbeta = sum(g)"
                           : "dx = gamma*inv_std*g, dgamma = sum(g*xhat), dbeta = sum(g)";
    // Besides x and gamma, backward needs only the per-feature mean and 1/std (in float64).
    const std::size_t captured = (mean.size() + inv_std.size() + var.size()) * sizeof(double);
    Tensor<T> out = record<T>(
        Tensor<T>(std::move(y)), "batch_norm", std::move(inputs), std::move(saved), rule,
        [L, gamma_at, beta_at, training, axes, eps, mean = std::move(mean), inv_std = std::move(inv_std),
         var = std::move(var)](const Node<T>& n, const Tensor<T>& g) {
            Grads<T> grads(n.inputs.size(), Tensor<T>::none());
            if (grad_enabled()) {
                // under create_graph: the closed form as ops, differentiable again
                const OptionalTensor<T> gm = gamma_at ? OptionalTensor<T>(n.saved(1)) : std::nullopt;
                BatchNormGradTensors<T> r = batchnorm_backward_reference(g, n.saved(0), gm, axes, eps, training, mean, var);
                grads[0] = n.needs_grad(0) ? r.dx : Tensor<T>::none();
                if (gamma_at && n.needs_grad(gamma_at)) {
                    grads[gamma_at] = r.dgamma;
                }
                if (beta_at && n.needs_grad(beta_at)) {
                    grads[beta_at] = r.dbeta;
                }
                return grads;
            }
            // an ordinary backward: the tuned kernels, one pass over the data
            const Array<T>& xv = n.saved_value(0);
            const bool want_dx = n.needs_grad(0);
            const bool want_dgamma = gamma_at && n.needs_grad(gamma_at), want_dbeta = beta_at && n.needs_grad(beta_at);
            Array<T> dx = tg::empty<T>(want_dx ? n.input_shape(0) : Shape{0});
            Array<T> dgamma = tg::empty<T>(want_dgamma ? L.stat_shape : Shape{0});
            Array<T> dbeta = tg::empty<T>(want_dbeta ? L.stat_shape : Shape{0});
            batchnorm_grads(g.value().data(), xv.data(), L, mean.data(), inv_std.data(),
                            gamma_at ? n.saved_value(1).data() : nullptr, training, want_dx ? dx.data() : nullptr,
                            want_dgamma ? dgamma.data() : nullptr, want_dbeta ? dbeta.data() : nullptr);
            if (want_dx) {
                grads[0] = Tensor<T>(std::move(dx));
            }
            if (want_dgamma) {
                grads[gamma_at] = Tensor<T>(std::move(dgamma));
            }
            if (want_dbeta) {
                grads[beta_at] = Tensor<T>(std::move(dbeta));
            }
            return grads;
        });
    if (out.grad_fn()) {
        out.grad_fn()->captured_bytes = captured;
    }
    return out;
}

}  // namespace

template <class T>
BatchNormOutput<T> batchnorm_fused(const Tensor<T>& x, const OptionalTensor<T>& gamma,
                                   const OptionalTensor<T>& beta, const Axes& axes, double eps) {
    const ChannelLayout L = checked_layout("batchnorm_fused", x, gamma, beta, axes, true);
    BatchNormOutput<T> out;
    out.batch_mean = tg::empty<double>(L.stat_shape);
    out.batch_var = tg::empty<double>(L.stat_shape);
    Array<double> inv_std = tg::empty<double>(L.stat_shape);
    Array<T> y = tg::empty<T>(x.shape());
    batchnorm_train_forward(x.value().data(), L, data_or_null(gamma), data_or_null(beta), eps,
                            out.batch_mean.data(), out.batch_var.data(), inv_std.data(), y.data());
    out.y = fused_node(std::move(y), x, gamma, beta, L, out.batch_mean, std::move(inv_std), true, axes, eps, Array<double>(tg::empty<double>({0})));
    out.count = L.count();
    return out;
}

template <class T>
Tensor<T> batchnorm_fused_eval(const Tensor<T>& x, const OptionalTensor<T>& gamma,
                               const OptionalTensor<T>& beta, const Array<T>& mean,
                               const Array<T>& var, const Axes& axes, double eps) {
    const ChannelLayout L = checked_layout("batchnorm_fused_eval", x, gamma, beta, axes, false);
    check_per_feature("batchnorm_fused_eval", "the mean", to_shape(mean.shape()), L);
    check_per_feature("batchnorm_fused_eval", "the variance", to_shape(var.shape()), L);
    Array<double> m = xt::cast<double>(mean);
    Array<double> inv_std = batchnorm_inv_std(xt::cast<double>(var), eps);
    Array<T> y = tg::empty<T>(x.shape());
    batchnorm_normalize(x.value().data(), L, m.data(), inv_std.data(), data_or_null(gamma),
                        data_or_null(beta), y.data());
    Array<double> v = xt::cast<double>(var);
    return fused_node(std::move(y), x, gamma, beta, L, std::move(m), std::move(inv_std), false, axes, eps, std::move(v));
}

#define TG_INSTANTIATE(T)                                                                         \
    template BatchNormGradTensors<T> batchnorm_backward_reference(                                \
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
