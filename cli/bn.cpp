#include "cli/bn.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "tapegrad.hpp"

namespace tgcli {

using tg::Array;
using tg::Tensor;

void add_bn_command(CLI::App& app, BnArgs& a) {
    CLI::App* bn = app.add_subcommand(
        "bn",
        "one BatchNorm step (forward and backward) on .npy files; writes y.npy and dx.npy (and "
        "dgamma.npy, dbeta.npy with affine; running_mean.npy, running_var.npy, "
        "num_batches_tracked.npy after a training step with tracking) into --out");
    bn->add_option("--impl", a.impl, "composite (the graph of primitives) or fused (one node)")
        ->check(CLI::IsMember({"composite", "fused"}))
        ->capture_default_str();
    bn->add_option("--mode", a.mode, "train (batch statistics) or eval (running statistics)")
        ->check(CLI::IsMember({"train", "eval"}))
        ->capture_default_str();
    bn->add_option("--x", a.x, "input, float32 or float64, shape (N, C), (N, C, L) or (N, C, H, W)")
        ->required();
    bn->add_option("--dy", a.dy, "upstream gradient dL/dy, the same shape and dtype as x")->required();
    bn->add_option("--gamma", a.gamma, "scale (weight), shape (C); default ones");
    bn->add_option("--beta", a.beta, "shift (bias), shape (C); default zeros");
    bn->add_option("--running-mean", a.running_mean, "running mean before the step, shape (C); default zeros");
    bn->add_option("--running-var", a.running_var,
                   "running variance before the step, shape (C); default ones (pytorch) or zeros (cs231n)");
    bn->add_option("--num-batches-tracked", a.num_batches_tracked, "batches seen before this step; default 0");
    bn->add_option("--eps", a.eps, "added to the variance before the square root")->capture_default_str();
    auto* momentum = bn->add_option("--momentum", a.momentum,
                                    "weight of the new batch (pytorch, default 0.1) or of the old "
                                    "running value (cs231n, default 0.9)");
    auto* cumulative = bn->add_flag("--cumulative", a.cumulative,
                                    "cumulative average over the batches seen (PyTorch's momentum=None)");
    momentum->excludes(cumulative);
    bn->add_option("--convention", a.convention,
                   "pytorch, or cs231n: momentum weights the old value, biased running variance")
        ->check(CLI::IsMember({"pytorch", "cs231n"}))
        ->capture_default_str();
    bn->add_flag("--no-affine", a.no_affine, "no gamma and beta (affine=False)");
    bn->add_flag("--no-track", a.no_track, "no running statistics (track_running_stats=False)");
    bn->add_option("--out", a.out, "folder for the output .npy files (created if missing)")
        ->capture_default_str();
}

namespace {

// Reads a file's header, naming the option in any error.
tg::NpyInfo info_for(const std::string& option, const std::string& path) {
    try {
        return tg::read_npy_info(path);
    } catch (const tg::IoError& e) {
        throw tg::IoError(fmt::format("bn: {} {}", option, e.what()));
    }
}

// Loads a float array for option `option`, with the dtype of x.
template <class T>
Array<T> load_as(const std::string& option, const std::string& path) {
    const tg::NpyInfo info = info_for(option, path);
    if (info.descr != (std::is_same_v<T, float> ? "<f4" : "<f8")) {
        throw tg::DtypeError(fmt::format("bn: {} {} holds {} values but x is {}; give every file x's dtype",
                                         option, path, tg::npy_dtype_name(info.descr), tg::dtype_name<T>()));
    }
    try {
        return tg::load_npy<T>(path);
    } catch (const tg::IoError& e) {
        throw tg::IoError(fmt::format("bn: {} {}", option, e.what()));
    }
}

template <class T>
void check_per_channel(const std::string& option, const std::string& path, const Array<T>& a,
                       std::size_t channels) {
    if (a.dimension() != 1 || a.shape()[0] != channels) {
        throw tg::ShapeError(fmt::format("bn: {} {} must have shape [{}] (one value per channel of x), got {}",
                                         option, path, channels, tg::shape_str(tg::to_shape(a.shape()))));
    }
}

template <class T>
int run(const BnArgs& a) {
    const Array<T> xv = load_as<T>("--x", a.x);
    if (xv.dimension() < 2 || xv.dimension() > 4) {
        throw tg::ShapeError(fmt::format(
            "bn: --x {} must have rank 2, 3 (BatchNorm1d) or 4 (BatchNorm2d), got shape {}", a.x,
            tg::shape_str(tg::to_shape(xv.shape()))));
    }
    const Array<T> dyv = load_as<T>("--dy", a.dy);
    if (dyv.shape() != xv.shape()) {
        throw tg::ShapeError(fmt::format("bn: --dy {} must have x's shape {}, got {}", a.dy,
                                         tg::shape_str(tg::to_shape(xv.shape())),
                                         tg::shape_str(tg::to_shape(dyv.shape()))));
    }
    const std::size_t C = xv.shape()[1];

    tg::nn::BatchNormOptions o;
    o.impl = a.impl == "composite" ? tg::nn::BatchNormImpl::composite : tg::nn::BatchNormImpl::fused;
    o.convention = a.convention == "cs231n" ? tg::nn::Convention::cs231n : tg::nn::Convention::pytorch;
    o.eps = a.eps;
    o.momentum = a.cumulative ? std::nullopt
                 : a.momentum ? a.momentum
                              : std::optional<double>(o.convention == tg::nn::Convention::cs231n ? 0.9 : 0.1);
    o.affine = !a.no_affine;
    o.track_running_stats = !a.no_track;
    if (a.no_affine && (!a.gamma.empty() || !a.beta.empty())) {
        throw tg::ValueError("bn: --gamma and --beta cannot be used with --no-affine");
    }
    if (a.no_track && (!a.running_mean.empty() || !a.running_var.empty() || a.num_batches_tracked)) {
        throw tg::ValueError(
            "bn: --running-mean, --running-var and --num-batches-tracked cannot be used with --no-track");
    }
    if (a.num_batches_tracked && *a.num_batches_tracked < 0) {
        throw tg::ValueError(fmt::format("bn: --num-batches-tracked must be 0 or more, got {}",
                                         *a.num_batches_tracked));
    }

    std::unique_ptr<tg::nn::BatchNorm<T>> bn;
    if (xv.dimension() == 4) {
        bn = std::make_unique<tg::nn::BatchNorm2d<T>>(C, o);
    } else {
        bn = std::make_unique<tg::nn::BatchNorm1d<T>>(C, o);
    }
    auto set = [&](const std::string& option, const std::string& path, Tensor<T>& target) {
        if (!path.empty()) {
            Array<T> v = load_as<T>(option, path);
            check_per_channel(option, path, v, C);
            target.mutable_value() = std::move(v);
        }
    };
    if (o.affine) {
        set("--gamma", a.gamma, *bn->weight);
        set("--beta", a.beta, *bn->bias);
    }
    if (bn->running) {
        set("--running-mean", a.running_mean, bn->running->mean);
        set("--running-var", a.running_var, bn->running->var);
        bn->running->num_batches_tracked = a.num_batches_tracked.value_or(0);
    }
    bn->train(a.mode == "train");

    Tensor<T> x(xv, true);
    Tensor<T> y = (*bn)(x);
    y.backward(dyv);

    std::filesystem::create_directories(a.out);
    const std::filesystem::path out(a.out);
    auto save = [&](const char* name, const auto& array) { tg::save_npy((out / name).string(), array); };
    save("y.npy", y.value());
    save("dx.npy", x.grad());
    if (o.affine) {
        save("dgamma.npy", bn->weight->grad());
        save("dbeta.npy", bn->bias->grad());
    }
    if (bn->running && a.mode == "train") {
        save("running_mean.npy", bn->running->mean.value());
        save("running_var.npy", bn->running->var.value());
        save("num_batches_tracked.npy", Array<std::int64_t>(bn->running->num_batches_tracked));
    }
    fmt::print("bn: {} {} step on {} {}; wrote {} files to {}\n", a.impl, a.mode, tg::dtype_name<T>(),
               tg::shape_str(x.shape()), 2 + (o.affine ? 2 : 0) + (bn->running && a.mode == "train" ? 3 : 0),
               a.out);
    return 0;
}

}  // namespace

int run_bn(const BnArgs& a) {
    const tg::NpyInfo info = info_for("--x", a.x);
    if (info.descr == "<f4") {
        return run<float>(a);
    }
    if (info.descr == "<f8") {
        return run<double>(a);
    }
    throw tg::DtypeError(fmt::format("bn: --x {} holds {} values; expected float32 or float64", a.x,
                                     tg::npy_dtype_name(info.descr)));
}

}  // namespace tgcli
