#pragma once

#include "tapegrad.hpp"

namespace tgcli {

// The main job for now: a scalar expression and a small network layer, each with its gradients.
int run_demo();

}  // namespace tgcli
