// Layer norm and group norm modules with PyTorch's semantics (nn.LayerNorm, nn.GroupNorm): no
// running statistics, so training and evaluation compute the same thing. Composite or fused, as
// BatchNorm1d/2d (ops/norm.hpp has the two ways).
#pragma once

#include "nn/batchnorm.hpp"
#include "nn/module.hpp"
#include "ops/norm.hpp"

namespace tg::nn {

// Which way a normalisation is built: from primitives or as one node.
using NormImpl = BatchNormImpl;

// Which member of the family: the values each mean is taken over (ops/norm.hpp).
enum class NormKind { batch, layer, group };
const char* to_string(NormKind kind);
// "batch", "layer" or "group"; ValueError listing them otherwise.
NormKind norm_kind_named(const std::string& name);

struct LayerNormOptions {
    double eps = 1e-5;
    bool elementwise_affine = true;  // learnable gamma (weight) and beta (bias) of normalized_shape
    NormImpl impl = NormImpl::fused;
};

// Normalises each sample over its trailing dimensions normalized_shape: LayerNorm<float>({64})
// for (N, 64) or (N, L, 64) inputs; LayerNorm<float>({C, H, W}) for whole images.
template <class T>
class LayerNorm : public Module<T> {
public:
    explicit LayerNorm(Shape normalized_shape, LayerNormOptions options = {});
    Tensor<T> forward(const Tensor<T>& x) override;
    std::string describe() const override;

    const Shape& normalized_shape() const { return normalized_shape_; }
    const LayerNormOptions& options() const { return options_; }

    OptionalTensor<T> weight;  // gamma, ones at first; empty without elementwise_affine
    OptionalTensor<T> bias;    // beta, zeros at first

protected:
    Named<T> own_parameters() const override;

private:
    Shape normalized_shape_;
    LayerNormOptions options_;
};

struct GroupNormOptions {
    double eps = 1e-5;
    bool affine = true;  // learnable per-channel gamma (weight) and beta (bias)
    NormImpl impl = NormImpl::fused;
};

// Normalises each sample's channels in num_groups groups (with their spatial dimensions): input
// (N, C, *) with C = num_channels, divisible by num_groups. One group is layer norm over
// (C, *) with per-channel parameters; C groups is instance norm.
template <class T>
class GroupNorm : public Module<T> {
public:
    GroupNorm(std::size_t num_groups, std::size_t num_channels, GroupNormOptions options = {});
    Tensor<T> forward(const Tensor<T>& x) override;
    std::string describe() const override;

    std::size_t num_groups() const { return num_groups_; }
    std::size_t num_channels() const { return num_channels_; }
    const GroupNormOptions& options() const { return options_; }

    OptionalTensor<T> weight;
    OptionalTensor<T> bias;

protected:
    Named<T> own_parameters() const override;

private:
    std::size_t num_groups_;
    std::size_t num_channels_;
    GroupNormOptions options_;
};

}  // namespace tg::nn
