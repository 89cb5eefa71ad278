// The normalisation family: x minus its mean, divided by its standard deviation, then scaled by
// gamma and shifted by beta. The members differ only in the values each mean is taken over:
//
//   batch norm  every axis but the channels: one mean per channel, across the batch
//               (ops/batchnorm.hpp; gamma and beta per channel; running statistics in the module)
//   layer norm  the trailing dimensions (normalized_shape): one mean per sample (per position of
//               the leading dimensions); gamma and beta of normalized_shape
//   group norm  a sample's channels in G groups (with their spatial dimensions): one mean per
//               sample and group; gamma and beta per channel
//
// Each is built two ways that must agree: composite, from primitives by one builder
// (normalize_composite, no backward code), and fused, one node whose backward is the closed form
//   dx = inv_std / N * (N dxhat - sum(dxhat) - xhat sum(dxhat xhat)),   dxhat = dy * gamma
// over the same N values (derived in ops/norm.cpp).
#pragma once

#include <functional>
#include <optional>

#include "core/tensor.hpp"
#include "ops/norm_kernels.hpp"

namespace tg {

template <class T>
using OptionalTensor = std::optional<Tensor<T>>;

// The parameter's values, or null when there is none (no affine).
template <class T>
const T* data_or_null(const OptionalTensor<T>& p) {
    return p ? p->value().data() : nullptr;
}

// The textbook graph over `axes`: mu -> xc -> sigma2 -> std -> xhat, each a named primitive op.
// With keepdims the statistics keep the reduced axes as size 1, so that they broadcast against x
// whatever the axes (batch norm over leading axes does without).
template <class T>
struct NormGraph {
    Tensor<T> mu, xc, sigma2, std, xhat;
};
template <class T>
NormGraph<T> normalize_composite(const Tensor<T>& x, const std::vector<int>& axes, bool keepdims, double eps);

// The closed form written with ops, differentiable again (a fused node's backward under
// create_graph): dx for a normalisation of x over `axes` given dxhat, the statistics recomputed
// from x; also xhat (same shape as x).
template <class T>
Tensor<T> normalized_backward_reference(const Tensor<T>& dxhat, const Tensor<T>& x, const std::vector<int>& axes,
                                        double eps, Tensor<T>* xhat = nullptr);

// ---- the fused node, one recorder for every member ------------------------------------------

template <class T>
struct NormGradTensors {
    Tensor<T> dx, dgamma, dbeta;  // dgamma and dbeta of gamma's shape
};

// A member's closed form as ops: (g, x, gamma) -> dx, dgamma, dbeta.
template <class T>
using NormReference = std::function<NormGradTensors<T>(const Tensor<T>& g, const Tensor<T>& x, const OptionalTensor<T>& gamma)>;

// Records y, already computed by the kernels from x with one mean and 1/std per set of `layout`,
// as one node `op` with inputs x, gamma and beta (each optional parameter only if given). Its
// backward is the closed form: the kernels (norm_backward) in an ordinary backward, `reference`
// under create_graph, so that the gradient keeps its dependence on x and can be differentiated
// again. `training`: the statistics are x's own (else constants); `reference_bytes`: the arrays
// the reference holds itself, counted in the node's saved bytes.
template <class T>
Tensor<T> record_fused_norm(Array<T> y, const char* op, const char* rule, const Tensor<T>& x,
                            const OptionalTensor<T>& gamma, const OptionalTensor<T>& beta, const NormLayout& layout,
                            Array<double> mean, Array<double> inv_std, bool training, NormReference<T> reference,
                            std::size_t reference_bytes = 0);

// Layer norm: statistics over the trailing dimensions `normalized_shape` (PyTorch's
// F.layer_norm); gamma and beta of normalized_shape, or none.
template <class T>
Tensor<T> layernorm_composite(const Tensor<T>& x, const Shape& normalized_shape, const OptionalTensor<T>& gamma,
                              const OptionalTensor<T>& beta, double eps);
template <class T>
Tensor<T> layernorm_fused(const Tensor<T>& x, const Shape& normalized_shape, const OptionalTensor<T>& gamma,
                          const OptionalTensor<T>& beta, double eps);

// Group norm: x of shape (N, C, *), statistics per sample over each of `groups` groups of C /
// groups channels (PyTorch's F.group_norm); gamma and beta per channel (C), or none.
template <class T>
Tensor<T> groupnorm_composite(const Tensor<T>& x, std::size_t groups, const OptionalTensor<T>& gamma,
                              const OptionalTensor<T>& beta, double eps);
template <class T>
Tensor<T> groupnorm_fused(const Tensor<T>& x, std::size_t groups, const OptionalTensor<T>& gamma,
                          const OptionalTensor<T>& beta, double eps);

// ---- on plain arrays, in the style of the cs231n assignment --------------------------------

template <class T>
struct NormCache {
    Array<T> x;
    Array<T> gamma;          // empty without affine
    Array<double> mean;      // per set (sample, or sample and group)
    Array<double> inv_std;   // per set: 1 / sqrt(var + eps), the biased variance
    NormLayout layout;
    Shape param_shape;       // the shape of gamma, beta, dgamma and dbeta
};

template <class T>
struct NormGrads {
    Array<T> dx, dgamma, dbeta;
};

// out, cache = layernorm_forward(x, gamma, beta, normalized_shape, eps); dx, dgamma, dbeta =
// layernorm_backward(dout, cache); the same for group norm. gamma and beta may be arrays of size 0
// (tg::empty<T>({0})): no affine.
template <class T>
std::pair<Array<T>, NormCache<T>> layernorm_forward(const Array<T>& x, const Array<T>& gamma, const Array<T>& beta,
                                                    const Shape& normalized_shape, double eps);
template <class T>
std::pair<Array<T>, NormCache<T>> groupnorm_forward(const Array<T>& x, const Array<T>& gamma, const Array<T>& beta,
                                                    std::size_t groups, double eps);
template <class T>
NormGrads<T> layernorm_backward(const Array<T>& dout, const NormCache<T>& cache);
template <class T>
NormGrads<T> groupnorm_backward(const Array<T>& dout, const NormCache<T>& cache);

}  // namespace tg
