// `tapegrad norm --kind batch|layer|group`: one step of any member of the normalisation family on
// .npy files. Batch norm takes `tapegrad bn`'s options and does what it does; layer norm and group
// norm keep no running statistics, so they take --normalized-shape or --groups instead.
#pragma once

#include "cli/bn.hpp"
#include "cli/command.hpp"

namespace tgcli {

struct NormArgs {
    BnArgs bn;                     // the files, eps, --no-affine, --impl, --out; the rest batch norm's only
    std::string kind = "batch";    // batch, layer or group
    std::string normalized_shape;  // layer: "4,5"; default the last dimension
    std::size_t groups = 0;        // group: required
};

Command norm_command(CLI::App& app);

}  // namespace tgcli
