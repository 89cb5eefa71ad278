// A model on disk: a folder with one .npy file per parameter, buffer and counter, named by its
// state_dict key ("0.weight.npy", "1.running_var.npy", "1.num_batches_tracked.npy"), so that
// NumPy opens them and PyTorch loads them ({k: torch.from_numpy(np.load(...))}).
#pragma once

#include <string>

#include "nn/module.hpp"

namespace tg::nn {

template <class T>
void save_model(Module<T>& model, const std::string& dir);

// Loads every entry the model has; a missing file, another dtype or another shape is an IoError
// naming the file, and leaves the model unchanged.
template <class T>
void load_model(Module<T>& model, const std::string& dir);

}  // namespace tg::nn
