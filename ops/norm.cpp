#include "ops/norm.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "ops/elementwise.hpp"
#include "ops/reductions.hpp"
#include "ops/shape.hpp"

namespace tg {

// ---- the composite builder: the textbook graph, no backward code ----------------------------

template <class T>
NormGraph<T> normalize_composite(const Tensor<T>& x, const std::vector<int>& axes, bool keepdims, double eps) {
    NormGraph<T> g;
    g.mu = mean(x, axes, keepdims).named("mu");
    g.xc = (x - g.mu).named("xc");
    g.sigma2 = mean(pow(g.xc, 2), axes, keepdims).named("sigma2");
    g.std = sqrt(g.sigma2 + eps).named("std");
    g.xhat = (g.xc / g.std).named("xhat");
    return g;
}

// ---- the closed form ------------------------------------------------------------------------
//
// Over a set of N values normalised together (s = 1/sqrt(sigma2 + eps), xhat_i = (x_i - mu) s):
//
//   dL/dxhat_i = gamma_i dy_i              (gamma per channel, per position, or 1)
//   dL/dsigma2 = sum_i dL/dxhat_i (x_i - mu) (-1/2) s^3
//   dL/dmu     = -s sum_i dL/dxhat_i + dL/dsigma2 (-2/N) sum_i (x_i - mu)      (the last sum is 0)
//   dL/dx_i    = s dL/dxhat_i + dL/dsigma2 2 (x_i - mu)/N + dL/dmu / N
//
// and, substituting, dL/dx = s / N * (N dxhat - sum(dxhat) - xhat sum(dxhat xhat)). It is batch
// norm's closed form with gamma inside the sums: in batch norm gamma is constant over a set and
// comes out as a factor, in layer norm it varies along the set, in group norm it varies by
// channel within a group. dgamma = sum(dy xhat), dbeta = sum(dy), each over the values that
// share a gamma.

template <class T>
Tensor<T> normalized_backward_reference(const Tensor<T>& dxhat, const Tensor<T>& x, const std::vector<int>& axes,
                                        double eps, Tensor<T>* xhat_out) {
    std::size_t count = 1;
    for (int a : axes) {
        count *= x.shape()[static_cast<std::size_t>(a)];
    }
    const double n = static_cast<double>(count);
    const Tensor<T> mu = mean(x, axes, true);
    const Tensor<T> inv_std = pow(mean(pow(x - mu, 2), axes, true) + eps, -0.5);
    const Tensor<T> xhat = (x - mu) * inv_std;
    if (xhat_out) {
        *xhat_out = xhat;
    }
    return inv_std / n * (n * dxhat - sum(dxhat, axes, true) - xhat * sum(dxhat * xhat, axes, true));
}

// ---- the fused node: one recorder for the family ----------------------------------------------

template <class T>
Tensor<T> record_fused_norm(Array<T> y, const char* op, const char* rule, const Tensor<T>& x,
                            const OptionalTensor<T>& gamma, const OptionalTensor<T>& beta, const NormLayout& L,
                            Array<double> mean, Array<double> inv_std, bool training, NormReference<T> reference,
                            std::size_t reference_bytes) {
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
    // Besides x and gamma, backward needs only the per-set mean and 1/std (in float64).
    const std::size_t captured = (mean.size() + inv_std.size()) * sizeof(double) + reference_bytes;
    Tensor<T> out = record<T>(
        Tensor<T>(std::move(y)), op, std::move(inputs), std::move(saved), rule,
        [L, gamma_at, beta_at, training, mean = std::move(mean), inv_std = std::move(inv_std),
         reference = std::move(reference)](const Node<T>& n, const Tensor<T>& g) {
            Grads<T> grads(n.inputs.size(), Tensor<T>::none());
            const bool want_dx = n.needs_grad(0);
            const bool want_dgamma = gamma_at && n.needs_grad(gamma_at), want_dbeta = beta_at && n.needs_grad(beta_at);
            if (grad_enabled()) {  // under create_graph: the closed form as ops, differentiable again
                const OptionalTensor<T> gm = gamma_at ? OptionalTensor<T>(n.saved(1)) : std::nullopt;
                NormGradTensors<T> r = reference(g, n.saved(0), gm);
                grads[0] = want_dx ? r.dx : Tensor<T>::none();
                if (want_dgamma) grads[gamma_at] = r.dgamma;
                if (want_dbeta) grads[beta_at] = r.dbeta;
                return grads;
            }
            // an ordinary backward: the tuned kernels
            const Shape param_shape = gamma_at ? n.input_shape(gamma_at) : beta_at ? n.input_shape(beta_at) : Shape{0};
            Array<T> dx = tg::empty<T>(want_dx ? n.input_shape(0) : Shape{0});
            Array<T> dgamma = tg::empty<T>(want_dgamma ? param_shape : Shape{0});
            Array<T> dbeta = tg::empty<T>(want_dbeta ? param_shape : Shape{0});
            norm_backward(g.value().data(), n.saved_value(0).data(), L, mean.data(), inv_std.data(),
                          gamma_at ? n.saved_value(1).data() : nullptr, training, want_dx ? dx.data() : nullptr,
                          want_dgamma ? dgamma.data() : nullptr, want_dbeta ? dbeta.data() : nullptr);
            if (want_dx) grads[0] = Tensor<T>(std::move(dx));
            if (want_dgamma) grads[gamma_at] = Tensor<T>(std::move(dgamma));
            if (want_dbeta) grads[beta_at] = Tensor<T>(std::move(dbeta));
            return grads;
        });
    if (out.grad_fn()) {
        out.grad_fn()->captured_bytes = captured;
    }
    return out;
}

namespace {

template <class T>
void check_param(const char* op, const char* what, const OptionalTensor<T>& p, const Shape& want) {
    if (p && p->shape() != want) {
        throw ShapeError(fmt::format("{}: {} must have shape {}, got {}", op, what, shape_str(want),
                                     shape_str(p->shape())));
    }
}

std::vector<int> trailing_axes(std::size_t rank, std::size_t k) {
    std::vector<int> axes;
    for (std::size_t a = rank - k; a < rank; ++a) {
        axes.push_back(static_cast<int>(a));
    }
    return axes;
}

std::vector<int> leading_axes(std::size_t rank, std::size_t k) {
    std::vector<int> axes;
    for (std::size_t a = 0; a + k < rank; ++a) {
        axes.push_back(static_cast<int>(a));
    }
    return axes;
}

// Every axis of x but the channels (1): what gamma's gradient sums over in group norm.
std::vector<int> all_but_channels(std::size_t rank) {
    std::vector<int> axes{0};
    for (std::size_t a = 2; a < rank; ++a) {
        axes.push_back(static_cast<int>(a));
    }
    return axes;
}

// (N, G, C/G * spatial): x's shape with each group's values in one row. Spelled out, not -1: a
// tensor with no elements gives -1 no size to infer.
std::vector<long> group_rows(const Shape& x, std::size_t groups) {
    std::size_t per_group = x[1] / groups;
    for (std::size_t a = 2; a < x.size(); ++a) {
        per_group *= x[a];
    }
    return {static_cast<long>(x[0]), static_cast<long>(groups), static_cast<long>(per_group)};
}

// A sum over `axes` where an empty list means no axis (x itself), not every axis as sum() reads it.
template <class T>
Tensor<T> sum_over(const Tensor<T>& x, const std::vector<int>& axes) {
    return axes.empty() ? x : sum(x, axes);
}

// (1, C, 1, ...): a per-channel parameter as it broadcasts against x.
template <class T>
Tensor<T> per_channel(const Tensor<T>& p, std::size_t rank) {
    std::vector<long> shape(rank, 1);
    shape[1] = static_cast<long>(p.numel());
    return reshape(p, shape);
}

template <class T>
Tensor<T> affine(Tensor<T> xhat, const OptionalTensor<T>& gamma, const OptionalTensor<T>& beta) {
    if (gamma) {
        xhat = xhat * *gamma;
    }
    if (beta) {
        xhat = xhat + *beta;
    }
    return gamma || beta ? xhat.named("y") : xhat;
}



}  // namespace

// ---- layer norm -----------------------------------------------------------------------------

template <class T>
Tensor<T> layernorm_composite(const Tensor<T>& x, const Shape& normalized_shape, const OptionalTensor<T>& gamma,
                              const OptionalTensor<T>& beta, double eps) {
    layernorm_layout("layernorm_composite", x.shape(), normalized_shape);
    check_param("layernorm_composite", "gamma", gamma, normalized_shape);
    check_param("layernorm_composite", "beta", beta, normalized_shape);
    const NormGraph<T> g = normalize_composite(x, trailing_axes(x.dim(), normalized_shape.size()), true, eps);
    return affine(g.xhat, gamma, beta);  // gamma and beta broadcast along the leading dimensions
}

template <class T>
Tensor<T> layernorm_fused(const Tensor<T>& x, const Shape& normalized_shape, const OptionalTensor<T>& gamma,
                          const OptionalTensor<T>& beta, double eps) {
    const NormLayout L = layernorm_layout("layernorm_fused", x.shape(), normalized_shape);
    check_param("layernorm_fused", "gamma", gamma, normalized_shape);
    check_param("layernorm_fused", "beta", beta, normalized_shape);
    Array<double> mean = tg::empty<double>({L.sets()}), var = tg::empty<double>({L.sets()});
    Array<double> inv_std = tg::empty<double>({L.sets()});
    Array<T> y = tg::empty<T>(x.shape());
    norm_forward(x.value().data(), L, data_or_null(gamma), data_or_null(beta), eps, mean.data(), var.data(),
                 inv_std.data(), y.data());
    const std::size_t k = normalized_shape.size();
    auto reference = [k, eps](const Tensor<T>& g, const Tensor<T>& xs, const OptionalTensor<T>& gm) {
        const std::vector<int> over = trailing_axes(xs.dim(), k), across = leading_axes(xs.dim(), k);
        Tensor<T> xhat;
        NormGradTensors<T> r;
        r.dx = normalized_backward_reference(gm ? g * *gm : g, xs, over, eps, &xhat);
        r.dgamma = sum_over(g * xhat, across);  // one sample alone: no leading axes to sum over
        r.dbeta = sum_over(g, across);
        return r;
    };
    return record_fused_norm<T>(std::move(y), "layer_norm", "dx = inv_std/N * (N*dxhat - sum(dxhat) - xhat*sum(dxhat*xhat)), "
                        "dxhat = g*gamma; dgamma = sum(g*xhat), dbeta = sum(g) over the leading dims",
                        x, gamma, beta, L, std::move(mean), std::move(inv_std), true, reference);
}

// ---- group norm -----------------------------------------------------------------------------

template <class T>
Tensor<T> groupnorm_composite(const Tensor<T>& x, std::size_t groups, const OptionalTensor<T>& gamma,
                              const OptionalTensor<T>& beta, double eps) {
    groupnorm_layout("groupnorm_composite", x.shape(), groups);
    const Shape channels{x.shape()[1]};
    check_param("groupnorm_composite", "gamma", gamma, channels);
    check_param("groupnorm_composite", "beta", beta, channels);
    // x as (N, G, C/G * spatial): each group's values in one row, normalised over axis 2
    const Tensor<T> xg = reshape(x, group_rows(x.shape(), groups)).named("x_groups");
    const NormGraph<T> g = normalize_composite(xg, {2}, true, eps);
    const Shape& s = x.shape();
    Tensor<T> xhat = reshape(g.xhat, std::vector<long>(s.begin(), s.end())).named("xhat");
    g.xhat.named("xhat_groups");
    return affine(xhat, gamma ? OptionalTensor<T>(per_channel(*gamma, x.dim())) : std::nullopt,
                  beta ? OptionalTensor<T>(per_channel(*beta, x.dim())) : std::nullopt);
}

template <class T>
Tensor<T> groupnorm_fused(const Tensor<T>& x, std::size_t groups, const OptionalTensor<T>& gamma,
                          const OptionalTensor<T>& beta, double eps) {
    const NormLayout L = groupnorm_layout("groupnorm_fused", x.shape(), groups);
    const Shape channels{x.shape()[1]};
    check_param("groupnorm_fused", "gamma", gamma, channels);
    check_param("groupnorm_fused", "beta", beta, channels);
    Array<double> mean = tg::empty<double>({L.sets()}), var = tg::empty<double>({L.sets()});
    Array<double> inv_std = tg::empty<double>({L.sets()});
    Array<T> y = tg::empty<T>(x.shape());
    norm_forward(x.value().data(), L, data_or_null(gamma), data_or_null(beta), eps, mean.data(), var.data(),
                 inv_std.data(), y.data());
    auto reference = [groups, eps](const Tensor<T>& g, const Tensor<T>& xs, const OptionalTensor<T>& gm) {
        const Shape& s = xs.shape();
        const std::vector<long> full(s.begin(), s.end());
        const std::vector<long> rows = group_rows(s, groups);
        const Tensor<T> dxhat = gm ? g * per_channel(*gm, xs.dim()) : g;
        Tensor<T> xhat_g;
        NormGradTensors<T> r;
        r.dx = reshape(normalized_backward_reference(reshape(dxhat, rows), reshape(xs, rows), {2}, eps, &xhat_g), full);
        r.dgamma = sum(g * reshape(xhat_g, full), all_but_channels(xs.dim()));
        r.dbeta = sum(g, all_but_channels(xs.dim()));
        return r;
    };
    return record_fused_norm<T>(std::move(y), "group_norm", "dx = inv_std/N * (N*dxhat - sum(dxhat) - xhat*sum(dxhat*xhat)) per "
                        "group, dxhat = g*gamma; dgamma = sum(g*xhat), dbeta = sum(g) per channel",
                        x, gamma, beta, L, std::move(mean), std::move(inv_std), true, reference);
}

// ---- on plain arrays ------------------------------------------------------------------------

namespace {

template <class T>
std::pair<Array<T>, NormCache<T>> sample_norm_arrays(const char* op, const Array<T>& x, const Array<T>& gamma,
                                                 const Array<T>& beta, const NormLayout& L, Shape param_shape,
                                                 double eps) {
    for (const auto& [what, p] : {std::pair<const char*, const Array<T>*>{"gamma", &gamma}, {"beta", &beta}}) {
        if (p->size() != 0 && p->shape() != param_shape) {
            throw ShapeError(fmt::format("{}: {} must have shape {} (or be empty: no affine), got {}", op, what,
                                         shape_str(param_shape), shape_str(p->shape())));
        }
    }
    NormCache<T> c;
    c.x = x;
    c.gamma = gamma;
    c.layout = L;
    c.param_shape = std::move(param_shape);
    c.mean = tg::empty<double>({L.sets()});
    c.inv_std = tg::empty<double>({L.sets()});
    Array<double> var = tg::empty<double>({L.sets()});
    Array<T> y = tg::empty<T>(x.shape());
    norm_forward(x.data(), L, gamma.size() ? gamma.data() : nullptr, beta.size() ? beta.data() : nullptr, eps,
                 c.mean.data(), var.data(), c.inv_std.data(), y.data());
    return {std::move(y), std::move(c)};
}

template <class T>
NormGrads<T> sample_norm_backward_arrays(const char* op, const Array<T>& dout, const NormCache<T>& c) {
    if (dout.shape() != c.x.shape()) {
        throw ShapeError(fmt::format("{}: dout must have the input's shape; expected {}, got {}", op,
                                     shape_str(c.x.shape()), shape_str(dout.shape())));
    }
    NormGrads<T> g;
    g.dx = tg::empty<T>(c.x.shape());
    g.dgamma = tg::empty<T>(c.param_shape);
    g.dbeta = tg::empty<T>(c.param_shape);
    norm_backward(dout.data(), c.x.data(), c.layout, c.mean.data(), c.inv_std.data(),
                  c.gamma.size() ? c.gamma.data() : nullptr, true, g.dx.data(), g.dgamma.data(), g.dbeta.data());
    return g;
}

}  // namespace

template <class T>
std::pair<Array<T>, NormCache<T>> layernorm_forward(const Array<T>& x, const Array<T>& gamma, const Array<T>& beta,
                                                    const Shape& normalized_shape, double eps) {
    const NormLayout L = layernorm_layout("layernorm_forward", x.shape(), normalized_shape);
    return sample_norm_arrays("layernorm_forward", x, gamma, beta, L, normalized_shape, eps);
}

template <class T>
std::pair<Array<T>, NormCache<T>> groupnorm_forward(const Array<T>& x, const Array<T>& gamma, const Array<T>& beta,
                                                    std::size_t groups, double eps) {
    const NormLayout L = groupnorm_layout("groupnorm_forward", x.shape(), groups);
    return sample_norm_arrays("groupnorm_forward", x, gamma, beta, L, Shape{x.shape()[1]}, eps);
}

template <class T>
NormGrads<T> layernorm_backward(const Array<T>& dout, const NormCache<T>& cache) {
    return sample_norm_backward_arrays("layernorm_backward", dout, cache);
}

template <class T>
NormGrads<T> groupnorm_backward(const Array<T>& dout, const NormCache<T>& cache) {
    return sample_norm_backward_arrays("groupnorm_backward", dout, cache);
}

#define TG_INSTANTIATE(T)                                                                                          \
    template NormGraph<T> normalize_composite(const Tensor<T>&, const std::vector<int>&, bool, double);            \
    template Tensor<T> normalized_backward_reference(const Tensor<T>&, const Tensor<T>&, const std::vector<int>&, \
                                                     double, Tensor<T>*);                                          \
    template Tensor<T> record_fused_norm(Array<T>, const char*, const char*, const Tensor<T>&,                        \
                                         const OptionalTensor<T>&, const OptionalTensor<T>&, const NormLayout&,         \
                                         Array<double>, Array<double>, bool, NormReference<T>, std::size_t);           \
    template Tensor<T> layernorm_composite(const Tensor<T>&, const Shape&, const OptionalTensor<T>&,               \
                                           const OptionalTensor<T>&, double);                                      \
    template Tensor<T> layernorm_fused(const Tensor<T>&, const Shape&, const OptionalTensor<T>&,                   \
                                       const OptionalTensor<T>&, double);                                          \
    template Tensor<T> groupnorm_composite(const Tensor<T>&, std::size_t, const OptionalTensor<T>&,                \
                                           const OptionalTensor<T>&, double);                                      \
    template Tensor<T> groupnorm_fused(const Tensor<T>&, std::size_t, const OptionalTensor<T>&,                    \
                                       const OptionalTensor<T>&, double);                                          \
    template std::pair<Array<T>, NormCache<T>> layernorm_forward(const Array<T>&, const Array<T>&,                 \
                                                                 const Array<T>&, const Shape&, double);           \
    template std::pair<Array<T>, NormCache<T>> groupnorm_forward(const Array<T>&, const Array<T>&,                 \
                                                                 const Array<T>&, std::size_t, double);            \
    template NormGrads<T> layernorm_backward(const Array<T>&, const NormCache<T>&);                                \
    template NormGrads<T> groupnorm_backward(const Array<T>&, const NormCache<T>&);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg
