#pragma once

#include "cli/command.hpp"

namespace tgcli {

// `tapegrad demo`: a scalar expression and a small network layer, each with its gradients.
Command demo_command(CLI::App& app);

}  // namespace tgcli
