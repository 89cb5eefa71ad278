// One normalisation step as the command line and the report describe it: which member of the
// family (batch, layer or group norm), an input, an upstream gradient, the module's options and
// the state it starts from.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "nn/batchnorm.hpp"
#include "nn/norm.hpp"

namespace tg::see {

using nn::NormKind;
using nn::norm_kind_named;
using nn::to_string;

// The module a case builds, with what the tools read from it.
template <class T>
struct NormModule {
    std::unique_ptr<nn::Module<T>> module;
    nn::BatchNorm<T>* batch = nullptr;  // batch norm only: its running statistics and options
    OptionalTensor<T>* weight = nullptr;
    OptionalTensor<T>* bias = nullptr;
    Tensor<T> operator()(const Tensor<T>& x) { return (*module)(x); }
};

template <class T>
struct NormCase {
    NormKind kind = NormKind::batch;
    Shape normalized_shape;  // layer norm: x's trailing dimensions normalised together
    std::size_t groups = 0;  // group norm: groups of channels (dimension 1)
    Array<T> x;
    Array<T> dy;
    std::optional<Array<T>> gamma, beta, running_mean, running_var;  // defaults when empty
    std::int64_t num_batches_tracked = 0;
    bool training = true;          // batch norm; layer and group norm compute the same either way
    nn::BatchNormOptions options;  // eps and affine for every kind; the rest is batch norm's

    // BatchNorm1d (rank 2, 3) or BatchNorm2d (rank 4), LayerNorm or GroupNorm, in the state described.
    NormModule<T> make_norm(nn::BatchNormImpl impl) const;

    // Batch norm's module (kind must be batch).
    std::unique_ptr<nn::BatchNorm<T>> make_module(nn::BatchNormImpl impl) const;

    // gamma's shape: the channels for batch and group norm, normalized_shape for layer norm.
    Shape param_shape() const;
    // One value per normalised set: the channels (batch), the leading dimensions (layer), (N, groups).
    Shape stat_shape() const;
    // N in the closed form: the values in one set.
    std::size_t set_size() const;
    // Whether the forward uses batch statistics (the closed form over N) rather than running ones.
    bool batch_statistics() const { return kind != NormKind::batch || training || !options.track_running_stats; }
    // "batch norm" / "layer norm over [3]" / "group norm in 2 groups"
    std::string title() const;
    // The textbook's reading for this kind: which axes every sum_i runs over, where N comes from
    // and where the sums of dL/dgamma and dL/dbeta run.
    std::string reading() const;

    // gamma (ones without one) and beta (zeros) as the module starts from them, of param_shape().
    Array<T> gamma_or_ones() const;
    Array<T> beta_or_zeros() const;
    // y from plain arrays (ops/batchnorm_arrays.hpp, ops/norm.hpp): the forward that central
    // differences run, independent of both graphs. Batch norm in evaluation mode uses the running
    // statistics (PyTorch's defaults when not given).
    Array<T> reference_forward(const Array<T>& x, const Array<T>& gamma, const Array<T>& beta) const;

    // The same case in another dtype.
    template <class U>
    NormCase<U> as() const {
        auto cast = [](const std::optional<Array<T>>& a) {
            return a ? std::optional<Array<U>>(Array<U>(xt::cast<U>(*a))) : std::nullopt;
        };
        NormCase<U> c;
        c.kind = kind;
        c.normalized_shape = normalized_shape;
        c.groups = groups;
        c.x = xt::cast<U>(x);
        c.dy = xt::cast<U>(dy);
        c.gamma = cast(gamma);
        c.beta = cast(beta);
        c.running_mean = cast(running_mean);
        c.running_var = cast(running_var);
        c.num_batches_tracked = num_batches_tracked;
        c.training = training;
        c.options = options;
        return c;
    }
};

// The closed form's ingredients for layer and group norm, one row per normalised set (the sets
// of stat_shape() in order, each of set_size() values): centred x, xhat and dxhat = dy * gamma, and
// the mean and 1 / std of each set, from the fused node's own kernels.
template <class T>
struct NormRows {
    Array<T> xc, xhat, dxhat;  // (sets, N)
    Array<T> mean, inv_std;    // (sets)
};
template <class T>
NormRows<T> norm_rows(const NormCase<T>& c);  // kind layer or group

// A parameter of param_shape() broadcast to x's shape (per channel for batch and group norm).
template <class T>
Array<T> param_full(const NormCase<T>& c, const Array<T>& p);

}  // namespace tg::see
