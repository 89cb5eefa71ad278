#include "nn/serialize.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/files.hpp"
#include "io/npy.hpp"

namespace tg::nn {

namespace fs = std::filesystem;

template <class T>
void write_model_entries(Module<T>& model, const std::string& dir) {
    for (const auto& [name, t] : model.named_parameters()) {
        io::save_npy((fs::path(dir) / (name + ".npy")).string(), t.value());
    }
    for (const auto& [name, t] : model.named_buffers()) {
        io::save_npy((fs::path(dir) / (name + ".npy")).string(), t.value());
    }
    for (const auto& [name, c] : model.named_counters()) {
        io::save_npy((fs::path(dir) / (name + ".npy")).string(), Array<std::int64_t>(*c));
    }
}

template <class T>
nlohmann::json model_manifest(Module<T>& model) {
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& [name, t] : model.named_parameters()) {
        entries.push_back(name);
    }
    for (const auto& [name, t] : model.named_buffers()) {
        entries.push_back(name);
    }
    for (const auto& [name, c] : model.named_counters()) {
        entries.push_back(name);
    }
    return {{"format", "tapegrad-model"}, {"version", 1}, {"dtype", dtype_name<T>()}, {"entries", entries}};
}

void write_manifest(const std::string& dir, const nlohmann::json& manifest) {
    const std::string text = manifest.dump(1) + "\n";
    io::write_file_atomically((fs::path(dir) / io::folder_manifest).string(), {text});
}

nlohmann::json read_manifest(const std::string& dir) {
    const std::string path = (fs::path(dir) / io::folder_manifest).string();
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw IoError(fmt::format("{}: cannot open it; is {} a folder saved by tapegrad?", path, dir));
    }
    std::ostringstream text;
    text << in.rdbuf();
    nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
        throw IoError(fmt::format("{}: not a valid manifest (expected a JSON object)", path));
    }
    return j;
}

template <class T>
void save_model(Module<T>& model, const std::string& dir) {
    io::write_folder_atomically(dir, [&](const std::string& staging) {
        write_model_entries(model, staging);
        write_manifest(staging, model_manifest(model));
    });
}

template <class T>
void load_model(Module<T>& model, const std::string& dir) {
    if (!fs::is_directory(dir)) {
        throw IoError(fmt::format("load: {} is not a folder; give the folder a model was saved to", dir));
    }
    // Read and check everything first, then assign: a bad file leaves the model as it was.
    std::vector<std::pair<Tensor<T>, Array<T>>> tensors;
    auto read = [&](const std::string& name, const Tensor<T>& t) {
        const std::string path = (fs::path(dir) / (name + ".npy")).string();
        if (!fs::exists(path)) {
            throw IoError(fmt::format("load: {} is missing; the model expects {} of shape {}", path, name,
                                      shape_str(t.shape())));
        }
        Array<T> a = io::load_npy<T>(path);
        if (a.shape() != t.shape()) {
            throw IoError(fmt::format("load: {} has shape {} but the model's {} has shape {}; was it saved from "
                                      "another architecture?",
                                      path, shape_str(a.shape()), name, shape_str(t.shape())));
        }
        tensors.emplace_back(t, std::move(a));
    };
    for (const auto& [name, t] : model.named_parameters()) {
        read(name, t);
    }
    for (const auto& [name, t] : model.named_buffers()) {
        read(name, t);
    }
    std::vector<std::pair<std::int64_t*, std::int64_t>> counters;
    for (const auto& [name, c] : model.named_counters()) {
        const std::string path = (fs::path(dir) / (name + ".npy")).string();
        if (!fs::exists(path)) {
            throw IoError(fmt::format("load: {} is missing", path));
        }
        const Array<std::int64_t> a = io::load_npy<std::int64_t>(path);
        if (a.size() != 1) {
            throw IoError(fmt::format("load: {} must hold one integer, got shape {}", path, shape_str(a.shape())));
        }
        counters.emplace_back(c, a.data()[0]);
    }
    for (auto& [t, a] : tensors) {
        Tensor<T> target = t;
        target.mutable_value() = std::move(a);
    }
    for (auto& [c, v] : counters) {
        *c = v;
    }
}

#define TG_INSTANTIATE(T)                                                  \
    template void save_model(Module<T>&, const std::string&);              \
    template void load_model(Module<T>&, const std::string&);              \
    template void write_model_entries(Module<T>&, const std::string&);     \
    template nlohmann::json model_manifest(Module<T>&);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg::nn
