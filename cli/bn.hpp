// `tapegrad bn`: one batch-norm step on .npy files, so anyone can check tapegrad against NumPy or
// PyTorch with their own data.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace tgcli {

struct BnArgs {
    std::string impl = "fused";
    std::string mode = "train";
    std::string x, dy, gamma, beta, running_mean, running_var;
    std::optional<long long> num_batches_tracked;
    double eps = 1e-5;
    std::optional<double> momentum;
    bool cumulative = false;
    std::string convention = "pytorch";
    bool no_affine = false;
    bool no_track = false;
    std::string out = ".";
};

void add_bn_command(CLI::App& app, BnArgs& args);
int run_bn(const BnArgs& args);

}  // namespace tgcli
