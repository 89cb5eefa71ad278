// `tapegrad train` and `tapegrad experiment bn`: small MLP experiments (cli/train.cpp,
// cli/experiment.cpp), their logs and plots (cli/plot.hpp).
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "cli/command.hpp"
#include "tapegrad.hpp"

namespace tgcli {

struct TrainArgs {
    std::string data = "fashion-mnist";  // fashion-mnist, spirals, moons or csv:PATH
    std::string data_dir = "/usr/share/datasets/fashion-mnist";
    std::string scale = "auto";          // auto, unit, standard or none
    std::size_t samples = 2000;          // spirals and moons
    double noise = -1;                   // spirals and moons; -1: the generator's default
    double test_fraction = 0.2;          // spirals, moons and csv
    std::string hidden = "256,128";
    std::string bn = "none";             // short for --norm batch --norm-impl BN, or --norm none
    std::string norm;                    // none, batch or layer; empty: as --bn says
    std::string norm_impl = "fused";     // composite or fused, with --norm
    std::string act = "relu";
    double dropout = 0;
    std::string optim = "adam";
    std::optional<double> lr;            // default 1e-3 (adam) or 0.1 (sgd)
    double momentum = 0;
    bool nesterov = false;
    double weight_decay = 0;
    std::size_t batch_size = 128;
    std::size_t epochs = 10;
    std::uint64_t seed = 0;
    std::string dtype = "f32";
    int threads = 0;                     // 0: OpenBLAS's default
    std::string log, plot, save, load, resume;
    std::string diagnostics;             // train: makemore's diagnostics drawn into this .svg or .png
    std::size_t diagnostics_every = 20;  // steps between two measurements
    bool quiet = false;
    bool detect_anomaly = false;
    const CLI::App* command = nullptr;   // the parsed subcommand: which options were given
};

// Exit code of a run stopped by Ctrl-C (SIGINT) or SIGTERM after its current batch.
inline constexpr int exit_interrupted = 130;

// Checks the options alone (no data is read); throws tg::Error with one clear line.
void check_train_args(const TrainArgs& args);

Command train_command(CLI::App& app);
// `experiment bn`: the same MLP without batch norm, with the composite and with the fused one;
// `experiment norm`: without normalisation, with batch norm and with layer norm.
Command experiment_command(CLI::App& app);

// ---- shared by the two commands ------------------------------------------------------------

// The options of both (`experiment` has no --bn, --norm, --save, --load or --resume).
void add_train_options(CLI::App* cmd, TrainArgs& args, bool experiment);

// The normalisation after each hidden Linear that --norm and --norm-impl (or --bn) describe.
std::optional<tg::nn::HiddenNorm> hidden_norm(const TrainArgs& args);
// "none", "fused batch norm", "composite layer norm"
std::string norm_label(const std::optional<tg::nn::HiddenNorm>& norm);

// The network, the optimiser and the data as the options describe them.
tg::nn::MlpConfig mlp_config(const TrainArgs& args, const std::optional<tg::nn::HiddenNorm>& norm);
tg::nn::OptimConfig optim_config(const TrainArgs& args);
template <class T>
tg::nn::Split<T> load_data(const TrainArgs& args);

// Checks the options, then runs f32 or f64 as --dtype says, in anomaly mode with --detect-anomaly.
int with_anomaly_mode(const TrainArgs& args, int (*f32)(const TrainArgs&), int (*f64)(const TrainArgs&));

}  // namespace tgcli
