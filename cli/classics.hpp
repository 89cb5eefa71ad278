// `tapegrad experiment ioffe | init-scale | batch-size | smoothness | hessian`: the experiments that
// made batch norm famous, small enough for a CPU (cli/classics.cpp). Each trains the same network
// with and without normalisation from the same initial weights on the same batches, prints a
// table, and can write a CSV log (--log) and a figure (--plot, gnuplot).
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "cli/command.hpp"

namespace tgcli {

struct ClassicArgs {
    std::string name;                    // which experiment
    std::string data = "fashion-mnist";  // or mnist: the same IDX files, from --data-dir
    std::string data_dir = "/usr/share/datasets/fashion-mnist";
    std::string norm_impl = "fused";     // composite or fused batch norm
    std::string dtype;                   // f32 or f64; empty: the experiment's default
    std::uint64_t seed = 0;
    int threads = 0;
    std::size_t steps = 0;               // 0: the experiment's default (ioffe, smoothness, hessian)
    std::size_t epochs = 0;              // 0: the experiment's default (init-scale, batch-size)
    double lr = 0;                       // 0: the experiment's default
    std::size_t batch_size = 0;          // 0: the experiment's default
    std::size_t probes = 0;              // points at which the measurements are taken; 0: default
    std::size_t train_size = 0;          // training examples used; 0: default
    std::string scales = "20";           // init-scale: how many scales in logspace(-4, 0)
    std::string batch_sizes = "5,10,50"; // batch-size
    double init_std = 0;                 // ioffe: the Gaussian initial weights' standard deviation
    std::string plot, log;
    bool quick = false;                  // a CI-sized run, seconds instead of minutes
    bool quiet = false;                  // no progress bar
    const CLI::App* command = nullptr;   // the parsed subcommand: which options were given
};

// Registers the five experiments under `experiment`; each Command runs one of them.
std::vector<Command> classic_experiment_commands(CLI::App* experiment);

}  // namespace tgcli
