#include "see/norm_case.hpp"

#include <fmt/format.h>

#include <numeric>

#include "ops/batchnorm_arrays.hpp"
#include "ops/norm_layout.hpp"
#include "ops/broadcast.hpp"
#include "ops/norm.hpp"

namespace tg::see {

namespace {

std::size_t product(Shape::const_iterator first, Shape::const_iterator last) {
    return std::accumulate(first, last, std::size_t{1}, std::multiplies<>());
}

std::string axes_list(std::size_t first, std::size_t last) {  // "axis 1", "axes 1, 2"
    std::string s = last - first > 1 ? "axes " : "axis ";
    for (std::size_t a = first; a < last; ++a) {
        s += fmt::format("{}{}", a == first ? "" : ", ", a);
    }
    return s;
}

}  // namespace

template <class T>
std::unique_ptr<nn::BatchNorm<T>> NormCase<T>::make_module(nn::BatchNormImpl impl) const {
    if (kind != NormKind::batch) {
        throw ValueError(fmt::format("make_module: this is a {} norm case; make_norm builds its module", to_string(kind)));
    }
    nn::BatchNormOptions o = options;
    o.impl = impl;
    const std::size_t channels = x.shape()[1];
    std::unique_ptr<nn::BatchNorm<T>> bn;
    if (x.dimension() == 4) {
        bn = std::make_unique<nn::BatchNorm2d<T>>(channels, o);
    } else {
        bn = std::make_unique<nn::BatchNorm1d<T>>(channels, o);
    }
    if (bn->weight && gamma) bn->weight->mutable_value() = *gamma;
    if (bn->bias && beta) bn->bias->mutable_value() = *beta;
    if (bn->running) {
        if (running_mean) bn->running->mean.mutable_value() = *running_mean;
        if (running_var) bn->running->var.mutable_value() = *running_var;
        bn->running->num_batches_tracked = num_batches_tracked;
    }
    bn->train(training);
    return bn;
}

template <class T>
NormModule<T> NormCase<T>::make_norm(nn::BatchNormImpl impl) const {
    NormModule<T> m;
    if (kind == NormKind::batch) {
        auto bn = make_module(impl);
        m.batch = bn.get();
        m.weight = &bn->weight;
        m.bias = &bn->bias;
        m.module = std::move(bn);
        return m;
    }
    if (kind == NormKind::layer) {
        auto ln = std::make_unique<nn::LayerNorm<T>>(normalized_shape, nn::LayerNormOptions{options.eps, options.affine, impl});
        m.weight = &ln->weight;
        m.bias = &ln->bias;
        m.module = std::move(ln);
    } else {
        auto gn = std::make_unique<nn::GroupNorm<T>>(groups, x.shape()[1], nn::GroupNormOptions{options.eps, options.affine, impl});
        m.weight = &gn->weight;
        m.bias = &gn->bias;
        m.module = std::move(gn);
    }
    if (*m.weight && gamma) (*m.weight)->mutable_value() = *gamma;
    if (*m.bias && beta) (*m.bias)->mutable_value() = *beta;
    m.module->train(training);
    return m;
}

template <class T>
Shape NormCase<T>::param_shape() const {
    return kind == NormKind::layer ? normalized_shape : Shape{x.shape()[1]};
}

template <class T>
Shape NormCase<T>::stat_shape() const {
    const Shape s = x.shape();
    switch (kind) {
        case NormKind::batch: return {s[1]};
        case NormKind::layer: return Shape(s.begin(), s.end() - static_cast<long>(normalized_shape.size()));
        case NormKind::group: return {s[0], groups};
    }
    return {};
}

template <class T>
std::size_t NormCase<T>::set_size() const {
    const Shape stat = stat_shape();
    const std::size_t sets = product(stat.begin(), stat.end());
    return sets == 0 ? 0 : x.size() / sets;
}

template <class T>
std::string NormCase<T>::title() const {
    switch (kind) {
        case NormKind::batch: return "batch norm";
        case NormKind::layer: return fmt::format("layer norm over {}", shape_str(normalized_shape));
        case NormKind::group: return fmt::format("group norm in {} groups", groups);
    }
    return "";
}

template <class T>
std::string NormCase<T>::reading() const {
    const Shape s = x.shape();
    const std::size_t rank = s.size();
    const std::size_t n = set_size();
    const Shape stat = stat_shape();
    const std::size_t sets = product(stat.begin(), stat.end());
    if (kind == NormKind::batch) {
        const std::string spatial = rank > 2 ? fmt::format(" and the positions ({})", axes_list(2, rank)) : "";
        return fmt::format(
            "Batch norm: every sum_i runs over the batch (axis 0){}, once per channel (axis 1): N = {} values in each "
            "of the {} sums. dL/dgamma and dL/dbeta sum over the same values.",
            spatial, n, sets);
    }
    if (kind == NormKind::layer) {
        const std::size_t k = normalized_shape.size();
        return fmt::format(
            "Layer norm over {}: every sum_i runs over one sample's trailing {} ({}), once per sample: N = {} values in "
            "each of the {} sums. dL/dgamma and dL/dbeta (shape {}) sum the other way, over the samples ({}): the "
            "parameters' sums and the closed form's sums run over complementary axes.",
            shape_str(normalized_shape), k > 1 ? "dimensions" : "dimension", axes_list(rank - k, rank), n, sets,
            shape_str(normalized_shape), axes_list(0, rank - k));
    }
    const std::size_t per = s[1] / groups;
    const std::size_t spatial = product(s.begin() + 2, s.end());
    return fmt::format(
        "Group norm in {} groups: every sum_i runs over one sample's group of C/G = {} channel{}{}, once per sample and "
        "group: N = {} values in each of the {} x {} = {} sums (the composite graph reshapes X to ({}, {}, {}) as "
        "x_groups and normalises its last axis). dL/dgamma and dL/dbeta (one per channel) sum over the samples{}.",
        groups, per, per > 1 ? "s" : "", rank > 2 ? fmt::format(" at all {} positions", spatial) : "", n, s[0], groups,
        sets, s[0], groups, n, rank > 2 ? " and the positions" : "");
}

template <class T>
Array<T> NormCase<T>::gamma_or_ones() const {
    return gamma.value_or(Array<T>(xt::ones<T>(param_shape())));
}

template <class T>
Array<T> NormCase<T>::beta_or_zeros() const {
    return beta.value_or(Array<T>(xt::zeros<T>(param_shape())));
}

template <class T>
Array<T> NormCase<T>::reference_forward(const Array<T>& xv, const Array<T>& g, const Array<T>& b) const {
    switch (kind) {
        case NormKind::layer: return layernorm_forward(xv, g, b, normalized_shape, options.eps).first;
        case NormKind::group: return groupnorm_forward(xv, g, b, groups, options.eps).first;
        case NormKind::batch: break;
    }
    const Axes axes = channel_axes(xv.dimension());
    if (batch_statistics()) {
        return batchnorm_forward(xv, g, b, axes, options.eps).first;
    }
    const Shape stat{xv.shape()[1]};
    const bool cs = options.convention == nn::Convention::cs231n;
    const Array<T> rm = running_mean.value_or(Array<T>(xt::zeros<T>(stat)));
    const Array<T> rv = running_var.value_or(cs ? Array<T>(xt::zeros<T>(stat)) : Array<T>(xt::ones<T>(stat)));
    return batchnorm_forward_eval(xv, g, b, rm, rv, axes, options.eps).first;
}

template <class T>
Array<T> param_full(const NormCase<T>& c, const Array<T>& p) {
    const Shape xs = c.x.shape();
    if (c.kind == NormKind::layer) {
        return broadcast_to<T>(p, xs);
    }
    Shape keep(xs.size(), 1);  // per channel: (1, C) or (1, C, 1, 1)
    keep[1] = xs[1];
    Array<T> r = p;
    r.reshape(keep);
    return broadcast_to<T>(r, xs);
}

template <class T>
NormRows<T> norm_rows(const NormCase<T>& c) {
    if (c.kind == NormKind::batch) {
        throw ValueError("norm_rows: batch norm normalises columns, not rows (ops/batchnorm_arrays.hpp has its stages)");
    }
    const Array<T> g = c.gamma_or_ones(), b = c.beta_or_zeros();
    const auto cache = c.kind == NormKind::layer ? layernorm_forward(c.x, g, b, c.normalized_shape, c.options.eps).second
                                                 : groupnorm_forward(c.x, g, b, c.groups, c.options.eps).second;
    const std::size_t n = c.set_size(), sets = c.x.size() / n;
    NormRows<T> r;
    r.mean = xt::cast<T>(cache.mean);
    r.inv_std = xt::cast<T>(cache.inv_std);
    r.mean.reshape({sets});
    r.inv_std.reshape({sets});
    Array<T> x2 = c.x;
    x2.reshape({sets, n});
    r.xc = x2 - xt::view(r.mean, xt::all(), xt::newaxis());
    r.xhat = r.xc * xt::view(r.inv_std, xt::all(), xt::newaxis());
    r.dxhat = c.dy * param_full(c, g);
    r.dxhat.reshape({sets, n});
    return r;
}

template struct NormCase<float>;
template struct NormCase<double>;
template NormRows<float> norm_rows(const NormCase<float>&);
template NormRows<double> norm_rows(const NormCase<double>&);
template Array<float> param_full(const NormCase<float>&, const Array<float>&);
template Array<double> param_full(const NormCase<double>&, const Array<double>&);

}  // namespace tg::see
