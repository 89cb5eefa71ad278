// The batch-norm subcommands share one set of input options: .npy files (x, dy, parameters and
// running statistics) or a seeded random N x D input, and the module's options.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "cli/command.hpp"
#include "io/npy.hpp"
#include "see/norm_case.hpp"

namespace tgcli {

struct BnArgs {
    std::string command = "bn";  // the subcommand, for messages
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
    // without --x: a seeded random input
    std::size_t n = 4;
    std::size_t d = 3;
    unsigned seed = 0;
};

// Adds the input and module options to `cmd`. With files_required, --x and --dy must be given;
// otherwise --n, --d and --seed describe a random input used when --x is absent.
void add_bn_options(CLI::App* cmd, BnArgs& args, bool files_required);

// Largest random input (--n times --d) the batch-norm commands generate: 2^26 values.
inline constexpr std::size_t max_random_values = std::size_t{1} << 26;

// Checks the options alone (no file is read) and returns the module options they describe;
// throws tg::Error with one clear line.
tg::nn::BatchNormOptions check_bn_args(const BnArgs& args);

// The case the options describe, in dtype T; throws tg::Error with one clear line on bad input.
template <class T>
tg::see::NormCase<T> load_case(const BnArgs& args);

// "float32" or "float64": x's dtype, or float64 for a random input.
std::string case_dtype(const BnArgs& args);

// Reads a file's header, naming the command and the option in any error.
tg::io::NpyInfo info_for(const std::string& cmd, const std::string& option, const std::string& path);
// Loads a float array for an option, which must have x's dtype T.
template <class T>
tg::Array<T> load_as(const std::string& cmd, const std::string& option, const std::string& path);

Command bn_command(CLI::App& app);
int run_bn(const BnArgs& args);

}  // namespace tgcli
