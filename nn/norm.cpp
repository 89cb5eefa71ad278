#include "nn/norm.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace tg::nn {

const char* to_string(NormKind kind) {
    switch (kind) {
        case NormKind::batch: return "batch";
        case NormKind::layer: return "layer";
        case NormKind::group: return "group";
    }
    return "?";
}

NormKind norm_kind_named(const std::string& name) {
    for (NormKind k : {NormKind::batch, NormKind::layer, NormKind::group}) {
        if (name == to_string(k)) {
            return k;
        }
    }
    throw ValueError(fmt::format("no normalisation named \"{}\": use batch, layer or group", name));
}

namespace {

void check_eps(const char* who, double eps) {
    if (!(eps > 0)) {
        throw ValueError(fmt::format("{}: eps must be positive, got {}", who, eps));
    }
}

template <class T>
Named<T> affine_parameters(const OptionalTensor<T>& weight, const OptionalTensor<T>& bias) {
    Named<T> out;
    if (weight) {
        out.emplace_back("weight", *weight);
        out.emplace_back("bias", *bias);
    }
    return out;
}

}  // namespace

template <class T>
LayerNorm<T>::LayerNorm(Shape normalized_shape, LayerNormOptions options)
    : normalized_shape_(std::move(normalized_shape)), options_(options) {
    if (normalized_shape_.empty() || shape_numel(normalized_shape_) < 2) {
        throw ValueError(fmt::format(
            "LayerNorm: normalized_shape must hold at least 2 values (their variance is what normalises), got {}",
            shape_str(normalized_shape_)));
    }
    check_eps("LayerNorm", options.eps);
    if (options.elementwise_affine) {
        weight = Tensor<T>(Array<T>(xt::ones<T>(normalized_shape_)), true).named("gamma");
        bias = Tensor<T>(Array<T>(xt::zeros<T>(normalized_shape_)), true).named("beta");
    }
}

template <class T>
Tensor<T> LayerNorm<T>::forward(const Tensor<T>& x) {
    return options_.impl == NormImpl::composite ? layernorm_composite(x, normalized_shape_, weight, bias, options_.eps)
                                                : layernorm_fused(x, normalized_shape_, weight, bias, options_.eps);
}

template <class T>
std::string LayerNorm<T>::describe() const {
    return fmt::format("LayerNorm(({},), eps={:g}, elementwise_affine={}, impl={})", fmt::join(normalized_shape_, ", "),
                       options_.eps, options_.elementwise_affine, to_string(options_.impl));
}

template <class T>
Named<T> LayerNorm<T>::own_parameters() const {
    return affine_parameters(weight, bias);
}

template <class T>
GroupNorm<T>::GroupNorm(std::size_t num_groups, std::size_t num_channels, GroupNormOptions options)
    : num_groups_(num_groups), num_channels_(num_channels), options_(options) {
    if (num_groups == 0 || num_channels % num_groups != 0) {
        throw ValueError(fmt::format("GroupNorm: num_groups ({}) must divide num_channels ({})", num_groups,
                                     num_channels));
    }
    check_eps("GroupNorm", options.eps);
    if (options.affine) {
        weight = Tensor<T>(Array<T>(xt::ones<T>({num_channels})), true).named("gamma");
        bias = Tensor<T>(Array<T>(xt::zeros<T>({num_channels})), true).named("beta");
    }
}

template <class T>
Tensor<T> GroupNorm<T>::forward(const Tensor<T>& x) {
    if (x.dim() < 2 || x.shape()[1] != num_channels_) {
        throw ShapeError(fmt::format("GroupNorm: expected an input of shape (N, {}, *), got {}", num_channels_,
                                     shape_str(x.shape())));
    }
    return options_.impl == NormImpl::composite ? groupnorm_composite(x, num_groups_, weight, bias, options_.eps)
                                                : groupnorm_fused(x, num_groups_, weight, bias, options_.eps);
}

template <class T>
std::string GroupNorm<T>::describe() const {
    return fmt::format("GroupNorm({}, {}, eps={:g}, affine={}, impl={})", num_groups_, num_channels_, options_.eps,
                       options_.affine, to_string(options_.impl));
}

template <class T>
Named<T> GroupNorm<T>::own_parameters() const {
    return affine_parameters(weight, bias);
}

template class LayerNorm<float>;
template class LayerNorm<double>;
template class GroupNorm<float>;
template class GroupNorm<double>;

}  // namespace tg::nn
