#include "nn/checkpoint.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <sstream>
#include <type_traits>

#include "io/files.hpp"
#include "io/npy.hpp"
#include "nn/serialize.hpp"

namespace tg::nn {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json stats_json(const EpochStats& s) {
    return {{"epoch", s.epoch}, {"train_loss", s.train_loss}, {"train_acc", s.train_acc}, {"test_acc", s.test_acc},
            {"seconds", s.seconds}};
}

// Reads one field of the manifest's training object, naming the file and the field if it is
// missing or of the wrong type.
template <class V>
V field(const json& j, const char* key, const std::string& where) {
    if (!j.is_object() || !j.contains(key)) {
        throw IoError(fmt::format("{}: the checkpoint lacks \"{}\"", where, key));
    }
    const json& v = j.at(key);
    const bool ok = std::is_same_v<V, double>        ? v.is_number()
                    : std::is_same_v<V, std::size_t> ? v.is_number_unsigned()
                    : std::is_same_v<V, std::string> ? v.is_string()
                                                     : true;
    if (!ok) {
        throw IoError(fmt::format("{}: \"{}\" has the wrong type ({})", where, key, v.type_name()));
    }
    return v.get<V>();
}

std::string manifest_path(const std::string& dir) { return (fs::path(dir) / io::folder_manifest).string(); }

}  // namespace

template <class T>
void save_checkpoint(const std::string& dir, Module<T>& model, const Optimizer<T>& opt, const TrainingState& state) {
    const OptimizerState<T> os = opt.state();
    json manifest = model_manifest(model);
    json training = {{"epoch", state.cursor.epoch},       {"batches_done", state.cursor.batches_done},
                     {"loss_sum", state.cursor.loss_sum}, {"hits", state.cursor.hits},
                     {"seconds", state.cursor.seconds},   {"settings", state.settings}};
    json history = json::array();
    for (const auto& s : state.history) {
        history.push_back(stats_json(s));
    }
    training["history"] = history;
    json generators = json::object();
    for (const auto& [name, g] : model.named_generators()) {
        std::ostringstream text;
        text << *g;
        generators[name] = text.str();
    }
    training["generators"] = generators;
    json arrays = json::array(), counters = json::object();
    for (const auto& [name, a] : os.arrays) {
        arrays.push_back(name);
    }
    for (const auto& [name, c] : os.counters) {
        counters[name] = c;
    }
    training["optimizer"] = {{"arrays", arrays}, {"counters", counters}};
    manifest["training"] = training;

    io::write_folder_atomically(dir, [&](const std::string& staging) {
        write_model_entries(model, staging);
        const fs::path opt_dir = fs::path(staging) / "optimizer";
        fs::create_directory(opt_dir);
        for (const auto& [name, a] : os.arrays) {
            io::save_npy((opt_dir / (name + ".npy")).string(), a);
        }
        write_manifest(staging, manifest);
    });
}

TrainingState read_training_state(const std::string& dir) {
    const json manifest = read_manifest(dir);
    const std::string where = manifest_path(dir);
    if (!manifest.contains("training") || !manifest.at("training").is_object()) {
        throw IoError(fmt::format("{}: this folder holds a model but no training state; resume needs a checkpoint "
                                  "written by `tapegrad train --save` (use --load to start from the weights alone)",
                                  where));
    }
    const json& t = manifest.at("training");
    TrainingState s;
    s.cursor.epoch = field<std::size_t>(t, "epoch", where);
    s.cursor.batches_done = field<std::size_t>(t, "batches_done", where);
    s.cursor.loss_sum = field<double>(t, "loss_sum", where);
    s.cursor.hits = field<std::size_t>(t, "hits", where);
    s.cursor.seconds = field<double>(t, "seconds", where);
    s.settings = field<json>(t, "settings", where);
    const json history = field<json>(t, "history", where);
    if (!history.is_array()) {
        throw IoError(fmt::format("{}: \"history\" must be a list of epochs", where));
    }
    for (const json& h : history) {
        EpochStats e;
        e.epoch = field<std::size_t>(h, "epoch", where);
        e.train_loss = field<double>(h, "train_loss", where);
        e.train_acc = field<double>(h, "train_acc", where);
        e.test_acc = field<double>(h, "test_acc", where);
        e.seconds = field<double>(h, "seconds", where);
        s.history.push_back(e);
    }
    if (s.history.size() != s.cursor.epoch) {
        throw IoError(fmt::format("{}: the checkpoint is at epoch {} but records {} finished epochs", where,
                                  s.cursor.epoch, s.history.size()));
    }
    return s;
}

template <class T>
void load_checkpoint(const std::string& dir, Module<T>& model, Optimizer<T>& opt) {
    const json manifest = read_manifest(dir);
    const std::string where = manifest_path(dir);
    read_training_state(dir);  // validates the training object
    const json& t = manifest.at("training");

    // The optimiser's state, read and checked in full.
    const json o = field<json>(t, "optimizer", where);
    const json arrays = field<json>(o, "arrays", where);
    const json counters = field<json>(o, "counters", where);
    if (!arrays.is_array() || !counters.is_object()) {
        throw IoError(fmt::format("{}: \"optimizer\" must hold a list of arrays and an object of counters", where));
    }
    OptimizerState<T> os;
    for (const json& name : arrays) {
        if (!name.is_string() || name.get<std::string>().find('/') != std::string::npos ||
            name.get<std::string>().empty()) {
            throw IoError(fmt::format("{}: an optimiser array name must be a plain file name, got {}", where, name.dump()));
        }
        const std::string path = (fs::path(dir) / "optimizer" / (name.get<std::string>() + ".npy")).string();
        os.arrays.emplace_back(name.get<std::string>(), io::load_npy<T>(path));
    }
    for (auto it = counters.begin(); it != counters.end(); ++it) {
        if (!it.value().is_number_integer()) {
            throw IoError(fmt::format("{}: the optimiser counter {} must be an integer", where, it.key()));
        }
        os.counters.emplace_back(it.key(), it.value().get<std::int64_t>());
    }

    // The dropout generators.
    const json gens = field<json>(t, "generators", where);
    std::vector<std::pair<Generator*, Generator>> generators;
    for (const auto& [name, g] : model.named_generators()) {
        if (!gens.is_object() || !gens.contains(name) || !gens.at(name).is_string()) {
            throw IoError(fmt::format("{}: the checkpoint has no state for the generator {}; was it saved from a "
                                      "model without dropout?",
                                      where, name));
        }
        const json& state = gens.at(name);
        std::istringstream text(state.get<std::string>());
        Generator restored;
        text >> restored;
        if (!text) {
            throw IoError(fmt::format("{}: the state of the generator {} is malformed", where, name));
        }
        generators.emplace_back(g, restored);
    }

    // Check the optimiser's state against a scratch copy of its current one, so that nothing
    // changes unless everything fits: load into opt, and on failure put the old state back.
    const OptimizerState<T> before = opt.state();
    try {
        opt.load_state(os);
        load_model(model, dir);
    } catch (const ValueError& e) {
        opt.load_state(before);
        throw IoError(fmt::format("{}: {}", where, e.what()));
    } catch (...) {
        opt.load_state(before);
        throw;
    }
    for (auto& [g, restored] : generators) {
        *g = restored;
    }
}

#define TG_INSTANTIATE(T)                                                                                   \
    template void save_checkpoint(const std::string&, Module<T>&, const Optimizer<T>&, const TrainingState&); \
    template void load_checkpoint(const std::string&, Module<T>&, Optimizer<T>&);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg::nn
