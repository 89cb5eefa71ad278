// A model on disk: a folder with one .npy file per parameter, buffer and counter, named by its
// state_dict key ("0.weight.npy", "1.running_var.npy", "1.num_batches_tracked.npy"), so that
// NumPy opens them and PyTorch loads them ({k: torch.from_numpy(np.load(...))}), and a manifest,
// tapegrad.json, naming the dtype and the entries.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "nn/module.hpp"

namespace tg::nn {

// Writes the folder atomically (io/files.hpp): a crash, a kill or a full disk part-way leaves
// the previous save whole. A folder that exists and was not written by tapegrad is refused.
template <class T>
void save_model(Module<T>& model, const std::string& dir);

// Loads every entry the model has; a missing file, another dtype or another shape is an IoError
// naming the file, and leaves the model unchanged. The manifest is optional, so that folders
// exported from PyTorch load too.
template <class T>
void load_model(Module<T>& model, const std::string& dir);

// The building blocks of save_model, for checkpoints (nn/checkpoint.hpp): the entries' .npy
// files written into an existing folder, and the manifest describing them.
template <class T>
void write_model_entries(Module<T>& model, const std::string& dir);
template <class T>
nlohmann::json model_manifest(Module<T>& model);

// Reads dir/tapegrad.json; an IoError names the file if it is missing or is not valid JSON.
nlohmann::json read_manifest(const std::string& dir);
void write_manifest(const std::string& dir, const nlohmann::json& manifest);

}  // namespace tg::nn
