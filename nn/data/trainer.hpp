// Training a small MLP: the model built from a description, one epoch over shuffled batches,
// accuracy, and the per-epoch record that logs and plots are made from.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "nn/batchnorm.hpp"
#include "nn/norm.hpp"
#include "nn/data/datasets.hpp"
#include "nn/layers.hpp"
#include "nn/optim.hpp"

namespace tg::nn {

enum class Activation { relu, tanh, sigmoid };
enum class OptimizerKind { adam, sgd };

const char* to_string(Activation act);
const char* to_string(OptimizerKind kind);

// The names used on the command line and in logs ("relu", "adam", "none" for no batch norm), and
// back; a name not on the list throws ValueError listing those that are.
Activation activation_named(const std::string& name);
OptimizerKind optimizer_named(const std::string& name);
std::optional<BatchNormImpl> batchnorm_named(const std::string& name);

// The normalisation after each hidden Linear: BatchNorm1d or LayerNorm over the layer's width.
struct HiddenNorm {
    NormKind kind = NormKind::batch;  // batch or layer (group norm is for channels, not an MLP's width)
    NormImpl impl = NormImpl::fused;
};

struct MlpConfig {
    std::vector<std::size_t> hidden{256, 128};
    std::optional<HiddenNorm> norm;  // none: no normalisation
    Activation act = Activation::relu;
    double dropout = 0;        // after each activation, when above 0
    std::uint64_t seed = 0;    // initial weights
};

// Linear -> [BatchNorm1d] -> activation -> [Dropout] for each hidden width, then Linear to classes.
template <class T>
std::shared_ptr<Sequential<T>> make_mlp(std::size_t inputs, std::size_t classes, const MlpConfig& config);

struct OptimConfig {
    OptimizerKind kind = OptimizerKind::adam;
    double lr = 1e-3;
    double momentum = 0;
    bool nesterov = false;
    double weight_decay = 0;
};

template <class T>
std::unique_ptr<Optimizer<T>> make_optimizer(Module<T>& model, const OptimConfig& config);

struct EpochStats {
    std::size_t epoch = 0;    // 1-based
    double train_loss = 0;    // mean over the epoch's batches
    double train_acc = 0;     // on the batches as they were trained (training mode)
    double test_acc = 0;      // evaluation mode, after the epoch
    double seconds = 0;       // the training pass alone
};

// Called after every batch: (batches done, batches in all, mean loss so far, examples per second).
using Progress = std::function<void(std::size_t, std::size_t, double, double)>;

// One epoch of mini-batch training; batches come from epoch_order(n, seed, epoch).
template <class T>
EpochStats train_epoch(Module<T>& model, Optimizer<T>& opt, const Dataset<T>& train, std::size_t batch_size,
                       std::uint64_t seed, std::size_t epoch, const Progress& progress = {});

// Where training stands inside an epoch: with the model, the optimiser and the dropout
// generators, all it takes to stop after any batch and later go on to the same result.
struct EpochCursor {
    std::size_t epoch = 0;         // 0-based
    std::size_t batches_done = 0;  // of this epoch
    double loss_sum = 0;           // over the batches done
    std::size_t hits = 0;          // correct predictions over the batches done
    double seconds = 0;            // spent on them, across interruptions
};

// Trains the batches of cursor.epoch from cursor.batches_done on, advancing the cursor after each.
// After every batch `stop` (if given) is asked whether to stop there; returns the epoch's
// statistics when it completes, nothing when it stopped early.
template <class T>
std::optional<EpochStats> train_batches(Module<T>& model, Optimizer<T>& opt, const Dataset<T>& train,
                                        std::size_t batch_size, std::uint64_t seed, EpochCursor& cursor,
                                        const Progress& progress = {}, const std::function<bool()>& stop = {});

// Fraction of rows whose largest logit is the label, in evaluation mode, without recording.
template <class T>
double accuracy(Module<T>& model, const Dataset<T>& data, std::size_t batch_size = 1000);

}  // namespace tg::nn
