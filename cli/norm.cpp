#include "cli/norm.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>

#include "tapegrad.hpp"

namespace tgcli {

using tg::Array;
using tg::Tensor;

namespace {

tg::Shape parse_normalized_shape(const std::string& s) {
    tg::Shape out;
    std::size_t pos = 0;
    while (!s.empty() && pos <= s.size()) {
        const std::size_t comma = s.find(',', pos);
        const std::string part = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        char* end = nullptr;
        const long v = std::strtol(part.c_str(), &end, 10);
        if (part.empty() || *end != '\0' || v <= 0) {
            throw tg::ValueError(fmt::format(
                "norm: --normalized-shape must be positive sizes separated by commas (the input's trailing "
                "dimensions), got \"{}\"",
                s));
        }
        out.push_back(static_cast<std::size_t>(v));
        if (comma == std::string::npos) {
            break;
        }
        pos = comma + 1;
    }
    return out;
}

void check_norm_args(const NormArgs& a) {
    if (a.kind == "batch") {
        if (!a.normalized_shape.empty() || a.groups) {
            throw tg::ValueError("norm: --normalized-shape is for --kind layer and --groups for --kind group");
        }
        check_bn_args(a.bn);
        return;
    }
    const BnArgs& b = a.bn;
    const char* only_batch = !b.running_mean.empty()    ? "--running-mean"
                             : !b.running_var.empty()   ? "--running-var"
                             : b.num_batches_tracked    ? "--num-batches-tracked"
                             : b.momentum               ? "--momentum"
                             : b.cumulative             ? "--cumulative"
                             : b.no_track               ? "--no-track"
                             : b.mode != "train"        ? "--mode eval"
                             : b.convention != "pytorch" ? "--convention"
                                                         : nullptr;
    if (only_batch) {
        throw tg::ValueError(fmt::format("norm: {} is batch norm's; {} norm keeps no running statistics and computes "
                                         "the same in training and evaluation",
                                         only_batch, a.kind));
    }
    if (a.kind == "layer" && a.groups) {
        throw tg::ValueError("norm: --groups is for --kind group; layer norm takes --normalized-shape");
    }
    if (a.kind == "group" && !a.normalized_shape.empty()) {
        throw tg::ValueError("norm: --normalized-shape is for --kind layer; group norm takes --groups");
    }
    if (a.kind == "group" && a.groups == 0) {
        throw tg::ValueError("norm: --kind group needs --groups G (a divisor of the channels, x's dimension 1)");
    }
    if (a.kind == "layer") {
        parse_normalized_shape(a.normalized_shape);
    }
    if (!(b.eps > 0)) {
        throw tg::ValueError(fmt::format("norm: --eps must be positive, got {}", b.eps));
    }
    if (b.no_affine && (!b.gamma.empty() || !b.beta.empty())) {
        throw tg::ValueError("norm: --gamma and --beta cannot be used with --no-affine");
    }
}

template <class T>
int run_rows(const NormArgs& a) {
    const BnArgs& b = a.bn;
    const Array<T> x = load_as<T>("norm", "--x", b.x);
    const Array<T> dy = load_as<T>("norm", "--dy", b.dy);
    const tg::Shape shape = tg::to_shape(x.shape());
    if (dy.shape() != x.shape()) {
        throw tg::ShapeError(fmt::format("norm: --dy {} must have x's shape {}, got {}", b.dy, tg::shape_str(shape),
                                         tg::shape_str(tg::to_shape(dy.shape()))));
    }
    const tg::nn::NormImpl impl = b.impl == "composite" ? tg::nn::NormImpl::composite : tg::nn::NormImpl::fused;
    std::unique_ptr<tg::nn::Module<T>> m;
    tg::OptionalTensor<T>* weight = nullptr;
    tg::OptionalTensor<T>* bias = nullptr;
    std::string what;
    if (a.kind == "layer") {
        if (shape.empty()) {
            throw tg::ShapeError("norm: --x must have at least one dimension for layer norm");
        }
        const tg::Shape ns = a.normalized_shape.empty() ? tg::Shape{shape.back()} : parse_normalized_shape(a.normalized_shape);
        tg::layernorm_layout("norm", shape, ns);  // the checks, with the command's name
        auto ln = std::make_unique<tg::nn::LayerNorm<T>>(ns, tg::nn::LayerNormOptions{b.eps, !b.no_affine, impl});
        weight = &ln->weight;
        bias = &ln->bias;
        m = std::move(ln);
        what = fmt::format("layer norm over {}", tg::shape_str(ns));
    } else {
        tg::groupnorm_layout("norm", shape, a.groups);
        auto gn = std::make_unique<tg::nn::GroupNorm<T>>(a.groups, shape[1], tg::nn::GroupNormOptions{b.eps, !b.no_affine, impl});
        weight = &gn->weight;
        bias = &gn->bias;
        m = std::move(gn);
        what = fmt::format("group norm in {} groups", a.groups);
    }
    for (const auto& [option, path, p] : {std::tuple<const char*, const std::string&, tg::OptionalTensor<T>*>{"--gamma", b.gamma, weight},
                                          {"--beta", b.beta, bias}}) {
        if (path.empty()) {
            continue;
        }
        Array<T> v = load_as<T>("norm", option, path);
        if (tg::to_shape(v.shape()) != (*p)->shape()) {
            throw tg::ShapeError(fmt::format("norm: {} {} must have shape {} for {}, got {}", option, path,
                                             tg::shape_str((*p)->shape()), what, tg::shape_str(tg::to_shape(v.shape()))));
        }
        (*p)->mutable_value() = std::move(v);
    }
    Tensor<T> xt_(x, true);
    Tensor<T> y = (*m)(xt_);
    y.backward(Tensor<T>(dy));
    std::filesystem::create_directories(b.out);
    const std::filesystem::path out(b.out);
    auto save = [&](const char* name, const auto& array) { tg::nn::save_npy((out / name).string(), array); };
    save("y.npy", y.value());
    save("dx.npy", xt_.grad());
    if (*weight) {
        save("dgamma.npy", (*weight)->grad());
        save("dbeta.npy", (*bias)->grad());
    }
    fmt::print("norm: {} ({}) on {} {}; wrote {} files to {}\n", what, b.impl, tg::dtype_name<T>(), tg::shape_str(shape),
               *weight ? 4 : 2, b.out);
    return 0;
}

int run_norm(const NormArgs& a) {
    check_norm_args(a);
    if (a.kind == "batch") {
        return run_bn(a.bn);
    }
    return case_dtype(a.bn) == "float32" ? run_rows<float>(a) : run_rows<double>(a);
}

}  // namespace

Command norm_command(CLI::App& app) {
    auto* cmd = app.add_subcommand(
        "norm",
        "one step of batch, layer or group norm (forward and backward) on .npy files; writes y.npy and dx.npy "
        "(and dgamma.npy, dbeta.npy with affine; batch norm's running statistics as `tapegrad bn` does) into --out");
    auto args = std::make_shared<NormArgs>();
    args->bn.command = "norm";
    return make_command(
        cmd, args,
        [](CLI::App* c, NormArgs& a) {
            c->add_option("--kind", a.kind, "batch, layer or group")
                ->check(CLI::IsMember({"batch", "layer", "group"}))
                ->capture_default_str();
            c->add_option("--normalized-shape", a.normalized_shape,
                          "layer: the trailing dimensions normalised together, comma-separated (default: the last)");
            c->add_option("--groups", a.groups, "group: the number of groups, a divisor of the channels (dimension 1)");
            add_bn_options(c, a.bn, true);
        },
        check_norm_args, run_norm);
}

}  // namespace tgcli
