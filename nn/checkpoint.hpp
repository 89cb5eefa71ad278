// A training checkpoint: everything a run needs to stop after any batch and later continue to
// exactly the result it would have reached without stopping. On disk it is a model folder
// (nn/serialize.hpp, loadable by load_model and by PyTorch) plus the optimiser's state in
// optimizer/*.npy, and, in the manifest's "training" object, the cursor inside the epoch, the
// finished epochs' statistics, the dropout generators and the caller's settings.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "nn/optim.hpp"
#include "nn/data/trainer.hpp"

namespace tg::nn {

struct TrainingState {
    EpochCursor cursor;               // the epoch in progress and how far it got
    std::vector<EpochStats> history;  // the epochs finished so far
    nlohmann::json settings = nlohmann::json::object();  // the caller's run settings (the CLI's options)
};

// Written atomically, like save_model: an interrupted save leaves the previous checkpoint whole.
template <class T>
void save_checkpoint(const std::string& dir, Module<T>& model, const Optimizer<T>& opt, const TrainingState& state);

// The training state alone, read from the manifest: enough to rebuild the model and the
// optimiser from its settings before load_checkpoint fills them. IoError if dir holds no
// checkpoint or the manifest is malformed.
TrainingState read_training_state(const std::string& dir);

// Restores the model, the optimiser and the dropout generators; checks everything before
// changing anything, so that a bad checkpoint leaves them as they were.
template <class T>
void load_checkpoint(const std::string& dir, Module<T>& model, Optimizer<T>& opt);

}  // namespace tg::nn
