#include "nn/serialize.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "nn/npy.hpp"

namespace tg::nn {

namespace fs = std::filesystem;

template <class T>
void save_model(Module<T>& model, const std::string& dir) {
    fs::create_directories(dir);
    for (const auto& [name, t] : model.named_parameters()) {
        save_npy((fs::path(dir) / (name + ".npy")).string(), t.value());
    }
    for (const auto& [name, t] : model.named_buffers()) {
        save_npy((fs::path(dir) / (name + ".npy")).string(), t.value());
    }
    for (const auto& [name, c] : model.named_counters()) {
        save_npy((fs::path(dir) / (name + ".npy")).string(), Array<std::int64_t>(*c));
    }
}

template <class T>
void load_model(Module<T>& model, const std::string& dir) {
    // Read and check everything first, then assign: a bad file leaves the model as it was.
    std::vector<std::pair<Tensor<T>, Array<T>>> tensors;
    auto read = [&](const std::string& name, const Tensor<T>& t) {
        const std::string path = (fs::path(dir) / (name + ".npy")).string();
        if (!fs::exists(path)) {
            throw IoError(fmt::format("load: {} is missing; the model expects {} of shape {}", path, name,
                                      shape_str(t.shape())));
        }
        Array<T> a = load_npy<T>(path);
        if (to_shape(a.shape()) != t.shape()) {
            throw IoError(fmt::format("load: {} has shape {} but the model's {} has shape {}; was it saved from "
                                      "another architecture?",
                                      path, shape_str(to_shape(a.shape())), name, shape_str(t.shape())));
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
        const Array<std::int64_t> a = load_npy<std::int64_t>(path);
        if (a.size() != 1) {
            throw IoError(fmt::format("load: {} must hold one integer, got shape {}", path, shape_str(to_shape(a.shape()))));
        }
        counters.emplace_back(c, a());
    }
    for (auto& [t, a] : tensors) {
        Tensor<T> target = t;
        target.mutable_value() = std::move(a);
    }
    for (auto& [c, v] : counters) {
        *c = v;
    }
}

template void save_model(Module<float>&, const std::string&);
template void save_model(Module<double>&, const std::string&);
template void load_model(Module<float>&, const std::string&);
template void load_model(Module<double>&, const std::string&);

}  // namespace tg::nn
