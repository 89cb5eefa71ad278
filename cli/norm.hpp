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

// --kind, --normalized-shape and --groups, for every command that takes a member of the family.
void add_kind_options(CLI::App* cmd, NormArgs& args);
// The options alone (no file read): batch norm's as check_bn_args, the others' refusals of batch
// norm's options; throws tg::Error with one clear line naming args.bn.command.
void check_norm_args(const NormArgs& args);
// The case the options describe, of any kind, validated against its module (layouts, parameter
// shapes); throws tg::Error with one clear line on bad input.
template <class T>
tg::see::NormCase<T> load_norm_case(const NormArgs& args);

Command norm_command(CLI::App& app);

}  // namespace tgcli
