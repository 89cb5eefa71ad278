#include "cli/bn.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <random>

#include "tapegrad.hpp"

namespace tgcli {

using tg::Array;
using tg::Tensor;

void add_bn_options(CLI::App* cmd, BnArgs& a, bool files_required) {
    cmd->add_option("--impl", a.impl, "composite (the graph of primitives) or fused (one node)")
        ->check(CLI::IsMember({"composite", "fused"}))
        ->capture_default_str();
    cmd->add_option("--mode", a.mode, "train (batch statistics) or eval (running statistics)")
        ->check(CLI::IsMember({"train", "eval"}))
        ->capture_default_str();
    auto* x = cmd->add_option("--x", a.x, "input, float32 or float64, shape (N, C), (N, C, L) or (N, C, H, W)");
    auto* dy = cmd->add_option("--dy", a.dy, "upstream gradient dL/dy, the same shape and dtype as x");
    if (files_required) {
        x->required();
        dy->required();
    } else {
        dy->needs(x);
        cmd->add_option("--n", a.n, "without --x: rows of the random input")->capture_default_str()->excludes(x);
        cmd->add_option("--d", a.d, "without --x: features of the random input")->capture_default_str()->excludes(x);
        cmd->add_option("--seed", a.seed, "without --x: seed of the random input and upstream gradient")
            ->capture_default_str()
            ->excludes(x);
    }
    cmd->add_option("--gamma", a.gamma,
                    files_required ? "scale (weight), shape (C); default ones"
                                   : "scale (weight), shape (C); default ones with --x, random around 1.5 (from --seed) "
                                     "without");
    cmd->add_option("--beta", a.beta,
                    files_required ? "shift (bias), shape (C); default zeros"
                                   : "shift (bias), shape (C); default zeros with --x, random around -0.5 (from --seed) "
                                     "without");
    cmd->add_option("--running-mean", a.running_mean, "running mean before the step, shape (C); default zeros");
    cmd->add_option("--running-var", a.running_var,
                    "running variance before the step, shape (C); default ones (pytorch) or zeros (cs231n)");
    cmd->add_option("--num-batches-tracked", a.num_batches_tracked, "batches seen before this step; default 0");
    cmd->add_option("--eps", a.eps, "added to the variance before the square root")->capture_default_str();
    auto* momentum = cmd->add_option("--momentum", a.momentum,
                                     "weight of the new batch (pytorch, default 0.1) or of the old "
                                     "running value (cs231n, default 0.9)");
    auto* cumulative = cmd->add_flag("--cumulative", a.cumulative,
                                     "cumulative average over the batches seen (PyTorch's momentum=None)");
    momentum->excludes(cumulative);
    cmd->add_option("--convention", a.convention,
                    "pytorch, or cs231n: momentum weights the old value, biased running variance")
        ->check(CLI::IsMember({"pytorch", "cs231n"}))
        ->capture_default_str();
    cmd->add_flag("--no-affine", a.no_affine, "no gamma and beta (affine=False)");
    cmd->add_flag("--no-track", a.no_track, "no running statistics (track_running_stats=False)");
    cmd->add_option("--out", a.out, "folder for the files written (created if missing)")->capture_default_str();
}

Command bn_command(CLI::App& app) {
    CLI::App* bn = app.add_subcommand(
        "bn",
        "one BatchNorm step (forward and backward) on .npy files; writes y.npy and dx.npy (and "
        "dgamma.npy, dbeta.npy with affine; running_mean.npy, running_var.npy, "
        "num_batches_tracked.npy after a training step with tracking) into --out");
    return make_command(
        bn, std::make_shared<BnArgs>(), [](CLI::App* cmd, BnArgs& a) { add_bn_options(cmd, a, true); },
        [](const BnArgs& a) { check_bn_args(a); }, run_bn);
}

namespace {

template <class T>
void check_per_channel(const std::string& cmd, const std::string& option, const std::string& path, const Array<T>& a,
                       std::size_t channels) {
    if (a.dimension() != 1 || a.shape()[0] != channels) {
        throw tg::ShapeError(fmt::format("{}: {} {} must have shape [{}] (one value per channel of x), got {}",
                                         cmd, option, path, channels, tg::shape_str(a.shape())));
    }
}

}  // namespace

// Reads a file's header, naming the option in any error.
tg::io::NpyInfo info_for(const std::string& cmd, const std::string& option, const std::string& path) {
    try {
        return tg::io::read_npy_info(path);
    } catch (const tg::IoError& e) {
        throw tg::IoError(fmt::format("{}: {} {}", cmd, option, e.what()));
    }
}

// Loads a float array for option `option`, with the dtype of x.
template <class T>
Array<T> load_as(const std::string& cmd, const std::string& option, const std::string& path) {
    const tg::io::NpyInfo info = info_for(cmd, option, path);
    if (info.descr != (std::is_same_v<T, float> ? "<f4" : "<f8")) {
        throw tg::DtypeError(fmt::format("{}: {} {} holds {} values but x is {}; give every file x's dtype",
                                         cmd, option, path, tg::io::npy_dtype_name(info.descr), tg::dtype_name<T>()));
    }
    try {
        return tg::io::load_npy<T>(path);
    } catch (const tg::IoError& e) {
        throw tg::IoError(fmt::format("{}: {} {}", cmd, option, e.what()));
    }
}

template Array<float> load_as(const std::string&, const std::string&, const std::string&);
template Array<double> load_as(const std::string&, const std::string&, const std::string&);

std::string case_dtype(const BnArgs& a) {
    if (a.x.empty()) {
        return "float64";
    }
    const tg::io::NpyInfo info = info_for(a.command, "--x", a.x);
    if (info.descr == "<f4") {
        return "float32";
    }
    if (info.descr == "<f8") {
        return "float64";
    }
    throw tg::DtypeError(fmt::format("{}: --x {} holds {} values; expected float32 or float64", a.command, a.x,
                                     tg::io::npy_dtype_name(info.descr)));
}

tg::nn::BatchNormOptions check_bn_args(const BnArgs& a) {
    if (a.x.empty()) {
        if (a.n == 0 || a.d == 0) {
            throw tg::ShapeError(fmt::format("{}: --n and --d must be at least 1, got {} x {}", a.command, a.n, a.d));
        }
        if (a.n > max_random_values / a.d) {
            throw tg::ShapeError(fmt::format("{}: a random input of {} x {} is too large; keep --n times --d at most "
                                             "{}, or give the data with --x",
                                             a.command, a.n, a.d, max_random_values));
        }
    }
    if (a.no_affine && (!a.gamma.empty() || !a.beta.empty())) {
        throw tg::ValueError(a.command + ": --gamma and --beta cannot be used with --no-affine");
    }
    if (a.no_track && (!a.running_mean.empty() || !a.running_var.empty() || a.num_batches_tracked)) {
        throw tg::ValueError(
            a.command + ": --running-mean, --running-var and --num-batches-tracked cannot be used with --no-track");
    }
    if (a.num_batches_tracked && *a.num_batches_tracked < 0) {
        throw tg::ValueError(fmt::format("{}: --num-batches-tracked must be 0 or more, got {}", a.command,
                                         *a.num_batches_tracked));
    }
    tg::nn::BatchNormOptions o;
    o.convention = a.convention == "cs231n" ? tg::nn::Convention::cs231n : tg::nn::Convention::pytorch;
    o.eps = a.eps;
    o.momentum = a.cumulative ? std::nullopt
                 : a.momentum ? a.momentum
                              : std::optional<double>(o.convention == tg::nn::Convention::cs231n ? 0.9 : 0.1);
    o.affine = !a.no_affine;
    o.track_running_stats = !a.no_track;
    o.impl = a.impl == "composite" ? tg::nn::BatchNormImpl::composite : tg::nn::BatchNormImpl::fused;
    tg::nn::BatchNorm1d<double>(1, o);  // the module's own checks of eps and momentum, with its messages
    return o;
}

template <class T>
tg::see::NormCase<T> load_case(const BnArgs& a) {
    tg::see::NormCase<T> c;
    c.options = check_bn_args(a);
    if (a.x.empty()) {
        std::mt19937_64 rng(a.seed);
        std::normal_distribution<double> dist(0.0, 1.0);
        c.x = tg::empty<T>({a.n, a.d});
        c.dy = tg::empty<T>({a.n, a.d});
        for (auto& v : c.x) {
            v = static_cast<T>(1.0 + 2.0 * dist(rng));  // mean 1, standard deviation 2
        }
        for (auto& v : c.dy) {
            v = static_cast<T>(dist(rng));
        }
        // gamma and beta away from 1 and 0 (as the exercises have them), so that the graph's scale
        // and shift steps show; --gamma and --beta replace them
        if (!a.no_affine) {
            Array<T> gamma = tg::empty<T>({a.d}), beta = tg::empty<T>({a.d});
            for (auto& v : gamma) {
                v = static_cast<T>(1.5 + 0.5 * dist(rng));
            }
            for (auto& v : beta) {
                v = static_cast<T>(-0.5 + 0.5 * dist(rng));
            }
            c.gamma = gamma;
            c.beta = beta;
        }
    } else {
        c.x = load_as<T>(a.command, "--x", a.x);
        if (c.x.dimension() < 2 || c.x.dimension() > 4) {
            throw tg::ShapeError(fmt::format(
                "{}: --x {} must have rank 2, 3 (BatchNorm1d) or 4 (BatchNorm2d), got shape {}", a.command, a.x,
                tg::shape_str(c.x.shape())));
        }
        if (a.dy.empty()) {
            throw tg::ValueError(fmt::format("{}: --dy is missing: with --x, give the upstream gradient dL/dy too, as a "
                                             ".npy file of x's shape and dtype",
                                             a.command));
        }
        c.dy = load_as<T>(a.command, "--dy", a.dy);
        if (c.dy.shape() != c.x.shape()) {
            throw tg::ShapeError(fmt::format("{}: --dy {} must have x's shape {}, got {}", a.command, a.dy,
                                             tg::shape_str(c.x.shape()),
                                             tg::shape_str(c.dy.shape())));
        }
    }
    const std::size_t C = c.x.shape()[1];
    auto per_channel = [&](const std::string& option, const std::string& path) -> std::optional<Array<T>> {
        if (path.empty()) {
            return std::nullopt;
        }
        Array<T> v = load_as<T>(a.command, option, path);
        check_per_channel(a.command, option, path, v, C);
        return v;
    };
    if (!a.gamma.empty()) {
        c.gamma = per_channel("--gamma", a.gamma);
    }
    if (!a.beta.empty()) {
        c.beta = per_channel("--beta", a.beta);
    }
    c.running_mean = per_channel("--running-mean", a.running_mean);
    c.running_var = per_channel("--running-var", a.running_var);
    c.num_batches_tracked = a.num_batches_tracked.value_or(0);
    c.training = a.mode == "train";
    // Validate the input against the module's options now, with the module's own messages.
    c.make_module(c.options.impl);
    return c;
}

template tg::see::NormCase<float> load_case(const BnArgs&);
template tg::see::NormCase<double> load_case(const BnArgs&);

namespace {

template <class T>
int run(const BnArgs& a) {
    const tg::see::NormCase<T> c = load_case<T>(a);
    auto bn = c.make_module(c.options.impl);
    const tg::nn::BatchNormOptions& o = c.options;

    Tensor<T> x(c.x, true);
    Tensor<T> y = (*bn)(x);
    y.backward(c.dy);

    std::filesystem::create_directories(a.out);
    const std::filesystem::path out(a.out);
    auto save = [&](const char* name, const auto& array) { tg::io::save_npy((out / name).string(), array); };
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
    fmt::print("{}: {} {} step on {} {}; wrote {} files to {}\n", a.command, a.impl, a.mode, tg::dtype_name<T>(),
               tg::shape_str(x.shape()), 2 + (o.affine ? 2 : 0) + (bn->running && a.mode == "train" ? 3 : 0),
               a.out);
    return 0;
}

}  // namespace

int run_bn(const BnArgs& a) { return case_dtype(a) == "float32" ? run<float>(a) : run<double>(a); }

}  // namespace tgcli
