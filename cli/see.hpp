// `tapegrad walkthrough | graph | trace | compare`: batch norm (or --kind layer | group) made visible.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/norm.hpp"
#include "cli/command.hpp"

namespace tgcli {

struct SeeArgs {
    NormArgs norm;  // the case: --kind, the files or a random input, the module's options
    std::string format = "text";
    std::size_t max_values = 12;
    std::size_t repeats = 21;
    std::size_t numeric_limit = 4096;
    int order = 1;            // compare: 1, or 2 and 3 for the derivatives of the gradient
    std::string save_input;  // folder for the case's x, dy, gamma, beta (.npy)
    std::string html;        // walkthrough: the page to write
};

Command walkthrough_command(CLI::App& app);
Command graph_command(CLI::App& app);
Command trace_command(CLI::App& app);
Command compare_command(CLI::App& app);

}  // namespace tgcli
