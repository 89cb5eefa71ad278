// BatchNorm1d and BatchNorm2d with PyTorch's semantics, exactly, and a choice of implementation
// (the composite graph or the fused node, ops/batchnorm.hpp).
//
// PyTorch's running statistics (the default):
//   running = (1 - momentum) * running + momentum * batch      momentum weights the NEW value
//   running_var takes the UNBIASED batch variance (times n / (n - 1)); normalising uses the biased
//   momentum unset (std::nullopt): a cumulative average, factor 1 / num_batches_tracked
// The cs231n convention, used by much teaching code:
//   running = momentum * running + (1 - momentum) * batch      momentum (0.9) weights the OLD value
//   running_var takes the BIASED batch variance, and both start at 0
#pragma once

#include <cstdint>
#include <optional>

#include "nn/module.hpp"
#include "ops/batchnorm.hpp"

namespace tg::nn {

enum class BatchNormImpl { composite, fused };
enum class Convention { pytorch, cs231n };

const char* to_string(BatchNormImpl impl);
const char* to_string(Convention convention);

struct BatchNormOptions {
    double eps = 1e-5;
    std::optional<double> momentum = 0.1;  // std::nullopt: cumulative moving average
    bool affine = true;                    // learnable gamma (weight) and beta (bias)
    bool track_running_stats = true;       // keep running_mean, running_var, num_batches_tracked
    BatchNormImpl impl = BatchNormImpl::fused;
    Convention convention = Convention::pytorch;

    // cs231n's convention with its default momentum of 0.9.
    static BatchNormOptions cs231n() {
        BatchNormOptions o;
        o.momentum = 0.9;
        o.convention = Convention::cs231n;
        return o;
    }
};

// The running statistics and their update rule, shared by both implementations.
template <class T>
struct RunningStats {
    Tensor<T> mean;  // tensors (never requiring a gradient) so that buffers share their storage
    Tensor<T> var;
    std::int64_t num_batches_tracked = 0;

    RunningStats() = default;
    RunningStats(std::size_t features, Convention convention);
    // Folds one training batch's statistics in (batch_var biased, n values per feature).
    void update(const Array<double>& batch_mean, const Array<double>& batch_var, std::size_t n,
                const BatchNormOptions& options);
};

template <class T>
class BatchNorm : public Module<T> {
public:
    Tensor<T> forward(const Tensor<T>& x) override;
    std::string describe() const override;

    std::size_t num_features() const { return num_features_; }
    const BatchNormOptions& options() const { return options_; }

    // gamma and beta (PyTorch's weight and bias); empty optionals when affine is false.
    OptionalTensor<T> weight;
    OptionalTensor<T> bias;
    // present only when track_running_stats is true
    std::optional<RunningStats<T>> running;

protected:
    Named<T> own_parameters() const override;
    Named<T> own_buffers() const override;
    std::vector<std::pair<std::string, std::int64_t*>> own_counters() override;

    BatchNorm(const char* name, std::vector<std::size_t> ranks, std::size_t num_features,
              BatchNormOptions options);

private:
    void check_input(const Tensor<T>& x) const;

    const char* name_;
    std::vector<std::size_t> ranks_;
    std::size_t num_features_;
    BatchNormOptions options_;
};

// (N, C) or (N, C, L): statistics per channel C.
template <class T>
class BatchNorm1d : public BatchNorm<T> {
public:
    explicit BatchNorm1d(std::size_t num_features, BatchNormOptions options = {})
        : BatchNorm<T>("BatchNorm1d", {2, 3}, num_features, options) {}
};

// (N, C, H, W): statistics per channel C.
template <class T>
class BatchNorm2d : public BatchNorm<T> {
public:
    explicit BatchNorm2d(std::size_t num_features, BatchNormOptions options = {})
        : BatchNorm<T>("BatchNorm2d", {4}, num_features, options) {}
};

}  // namespace tg::nn
