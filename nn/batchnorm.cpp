#include "nn/batchnorm.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace tg::nn {

const char* to_string(BatchNormImpl impl) {
    return impl == BatchNormImpl::composite ? "composite" : "fused";
}

const char* to_string(Convention convention) {
    return convention == Convention::pytorch ? "pytorch" : "cs231n";
}

// ---- running statistics: one piece of code for both implementations ------------------------

template <class T>
RunningStats<T>::RunningStats(std::size_t features, Convention convention)
    : mean(Tensor<T>::zeros({features}).named("running_mean")),
      // PyTorch starts the variance at 1; cs231n's assignment at 0
      var((convention == Convention::pytorch ? Tensor<T>::ones({features})
                                             : Tensor<T>::zeros({features}))
              .named("running_var")) {}

template <class T>
void RunningStats<T>::update(const Array<double>& batch_mean, const Array<double>& batch_var, std::size_t n,
                             const BatchNormOptions& options) {
    ++num_batches_tracked;
    const bool pytorch = options.convention == Convention::pytorch;
    // The weight of the new batch: momentum (PyTorch), 1 - momentum (cs231n), or 1/k for the
    // k-th batch of a cumulative average (PyTorch's momentum=None).
    const double w = !options.momentum ? 1.0 / static_cast<double>(num_batches_tracked)
                     : pytorch         ? *options.momentum
                                       : 1.0 - *options.momentum;
    // PyTorch keeps the unbiased variance: n / (n - 1) times the biased one used to normalise.
    const double correction = pytorch ? static_cast<double>(n) / static_cast<double>(n - 1) : 1.0;
    Array<T>& rm = mean.mutable_value();
    Array<T>& rv = var.mutable_value();
    for (std::size_t c = 0; c < rm.size(); ++c) {
        const double m = static_cast<double>(rm.data()[c]);
        const double v = static_cast<double>(rv.data()[c]);
        rm.data()[c] = static_cast<T>((1.0 - w) * m + w * batch_mean.data()[c]);
        rv.data()[c] =
            static_cast<T>((1.0 - w) * v + w * batch_var.data()[c] * correction);
    }
}

// ---- the module -----------------------------------------------------------------------------

template <class T>
BatchNorm<T>::BatchNorm(const char* name, std::vector<std::size_t> ranks, std::size_t num_features,
                        BatchNormOptions options)
    : name_(name), ranks_(std::move(ranks)), num_features_(num_features), options_(options) {
    if (num_features == 0) {
        throw ValueError(fmt::format("{}: num_features must be at least 1", name_));
    }
    if (!(options.eps > 0)) {
        throw ValueError(fmt::format("{}: eps must be positive, got {}", name_, options.eps));
    }
    if (options.momentum && !(*options.momentum >= 0 && *options.momentum <= 1)) {
        throw ValueError(fmt::format("{}: momentum must lie in [0, 1], got {}", name_, *options.momentum));
    }
    if (!options.momentum && options.convention == Convention::cs231n) {
        throw ValueError(fmt::format(
            "{}: a cumulative average (momentum unset) is PyTorch's; the cs231n convention needs "
            "a momentum",
            name_));
    }
    if (options.affine) {
        weight = Tensor<T>(Array<T>(xt::ones<T>({num_features})), true).named("gamma");
        bias = Tensor<T>(Array<T>(xt::zeros<T>({num_features})), true).named("beta");
    }
    if (options.track_running_stats) {
        running = RunningStats<T>(num_features, options.convention);
    }
}

template <class T>
void BatchNorm<T>::check_input(const Tensor<T>& x) const {
    if (std::find(ranks_.begin(), ranks_.end(), x.dim()) == ranks_.end()) {
        throw ShapeError(fmt::format("{}: expected a {}-D input, got shape {}", name_,
                                     fmt::join(ranks_, "-D or "), shape_str(x.shape())));
    }
    if (x.shape()[1] != num_features_) {
        throw ShapeError(fmt::format(
            "{}: expected {} channels (num_features) in dimension 1, got input of shape {}", name_,
            num_features_, shape_str(x.shape())));
    }
}

template <class T>
Tensor<T> BatchNorm<T>::forward(const Tensor<T>& x) {
    check_input(x);
    const Axes axes = channel_axes(x.dim());
    const bool composite = options_.impl == BatchNormImpl::composite;
    // Like PyTorch: batch statistics in training, and in evaluation too when none are tracked.
    if (!this->is_training() && running) {
        return composite
                   ? batchnorm_composite_eval(x, weight, bias, running->mean.value(), running->var.value(), axes, options_.eps)
                   : batchnorm_fused_eval(x, weight, bias, running->mean.value(), running->var.value(), axes, options_.eps);
    }
    BatchNormOutput<T> out = composite ? batchnorm_composite(x, weight, bias, axes, options_.eps)
                                       : batchnorm_fused(x, weight, bias, axes, options_.eps);
    if (this->is_training() && running) {
        running->update(out.batch_mean, out.batch_var, out.count, options_);
    }
    return out.y;
}

template <class T>
std::string BatchNorm<T>::describe() const {
    return fmt::format("{}({}, eps={:g}, momentum={}, affine={}, track_running_stats={}, impl={})", name_,
                       num_features_, options_.eps, options_.momentum ? fmt::format("{:g}", *options_.momentum) : "None",
                       options_.affine, options_.track_running_stats, to_string(options_.impl));
}

template <class T>
std::vector<std::pair<std::string, std::int64_t*>> BatchNorm<T>::own_counters() {
    if (!running) {
        return {};
    }
    return {{"num_batches_tracked", &running->num_batches_tracked}};
}

template <class T>
Named<T> BatchNorm<T>::own_parameters() const {
    Named<T> out;
    if (weight) {
        out.emplace_back("weight", *weight);
        out.emplace_back("bias", *bias);
    }
    return out;
}

template <class T>
Named<T> BatchNorm<T>::own_buffers() const {
    Named<T> out;
    if (running) {
        out.emplace_back("running_mean", running->mean);
        out.emplace_back("running_var", running->var);
    }
    return out;
}

template struct RunningStats<float>;
template struct RunningStats<double>;
template class BatchNorm<float>;
template class BatchNorm<double>;

}  // namespace tg::nn
