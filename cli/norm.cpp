#include "cli/norm.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>

#include "tapegrad.hpp"

namespace tgcli {

using tg::Array;
using tg::Tensor;

namespace {

tg::Shape parse_normalized_shape(const std::string& cmd, const std::string& s) {
    tg::Shape out;
    std::size_t pos = 0;
    while (!s.empty() && pos <= s.size()) {
        const std::size_t comma = s.find(',', pos);
        const std::string part = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        char* end = nullptr;
        const long v = std::strtol(part.c_str(), &end, 10);
        if (part.empty() || *end != '\0' || v <= 0) {
            throw tg::ValueError(fmt::format(
                "{}: --normalized-shape must be positive sizes separated by commas (the input's trailing "
                "dimensions), got \"{}\"",
                cmd, s));
        }
        out.push_back(static_cast<std::size_t>(v));
        if (comma == std::string::npos) {
            break;
        }
        pos = comma + 1;
    }
    return out;
}

}  // namespace

void add_kind_options(CLI::App* c, NormArgs& a) {
    c->add_option("--kind", a.kind, "batch, layer or group: which normalisation")
        ->check(CLI::IsMember({"batch", "layer", "group"}))
        ->capture_default_str();
    c->add_option("--normalized-shape", a.normalized_shape,
                  "layer: the trailing dimensions normalised together, comma-separated (default: the last)");
    c->add_option("--groups", a.groups, "group: the number of groups, a divisor of the channels (dimension 1)");
}

void check_norm_args(const NormArgs& a) {
    const BnArgs& b = a.bn;
    const std::string& cmd = b.command;
    if (a.kind == "batch") {
        if (!a.normalized_shape.empty() || a.groups) {
            throw tg::ValueError(cmd + ": --normalized-shape is for --kind layer and --groups for --kind group");
        }
        check_bn_args(b);
        return;
    }
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
        throw tg::ValueError(fmt::format("{}: {} is batch norm's; {} norm keeps no running statistics and computes "
                                         "the same in training and evaluation",
                                         cmd, only_batch, a.kind));
    }
    if (a.kind == "layer" && a.groups) {
        throw tg::ValueError(cmd + ": --groups is for --kind group; layer norm takes --normalized-shape");
    }
    if (a.kind == "group" && !a.normalized_shape.empty()) {
        throw tg::ValueError(cmd + ": --normalized-shape is for --kind layer; group norm takes --groups");
    }
    if (a.kind == "group" && a.groups == 0) {
        throw tg::ValueError(fmt::format("{}: --kind group needs --groups G (a divisor of the channels, x's dimension "
                                         "1{})",
                                         cmd, b.x.empty() ? fmt::format(": --d {} here", b.d) : std::string()));
    }
    if (a.kind == "layer") {
        parse_normalized_shape(cmd, a.normalized_shape);
    }
    check_bn_args(b);  // eps, affine against --gamma/--beta, the random input's size
}

template <class T>
tg::see::NormCase<T> load_norm_case(const NormArgs& a) {
    check_norm_args(a);
    if (a.kind == "batch") {
        return load_case<T>(a.bn);
    }
    const BnArgs& b = a.bn;
    BnArgs inputs = b;  // x and dy (and the random case's gamma and beta) as batch norm reads them; the
    inputs.gamma.clear();  // parameters' files are checked below
    inputs.beta.clear();
    tg::see::NormCase<T> c = load_case<T>(inputs);
    c.kind = tg::see::norm_kind_named(a.kind);
    const tg::Shape shape = c.x.shape();
    if (c.kind == tg::see::NormKind::layer) {
        c.normalized_shape = a.normalized_shape.empty() ? tg::Shape{shape.back()} : parse_normalized_shape(b.command, a.normalized_shape);
        tg::layernorm_layout(b.command.c_str(), shape, c.normalized_shape);
    } else {
        c.groups = a.groups;
        tg::groupnorm_layout(b.command.c_str(), shape, c.groups);
    }
    for (const auto& [option, path, target] :
         {std::tuple<const char*, const std::string&, std::optional<Array<T>>*>{"--gamma", b.gamma, &c.gamma},
          {"--beta", b.beta, &c.beta}}) {
        if (path.empty()) {
            continue;
        }
        Array<T> v = load_as<T>(b.command, option, path);
        if (v.shape() != c.param_shape()) {
            throw tg::ShapeError(fmt::format("{}: {} {} must have shape {} for {}, got {}", b.command, option, path,
                                             tg::shape_str(c.param_shape()), c.title(),
                                             tg::shape_str(v.shape())));
        }
        *target = std::move(v);
    }
    c.make_norm(c.options.impl);  // the module's own checks, with its messages
    return c;
}

template tg::see::NormCase<float> load_norm_case(const NormArgs&);
template tg::see::NormCase<double> load_norm_case(const NormArgs&);

namespace {

template <class T>
int run_rows(const NormArgs& a) {
    const tg::see::NormCase<T> c = load_norm_case<T>(a);
    auto norm = c.make_norm(c.options.impl);
    Tensor<T> x(c.x, true);
    Tensor<T> y = norm(x);
    y.backward(Tensor<T>(c.dy));
    const BnArgs& b = a.bn;
    std::filesystem::create_directories(b.out);
    const std::filesystem::path out(b.out);
    auto save = [&](const char* name, const auto& array) { tg::io::save_npy((out / name).string(), array); };
    save("y.npy", y.value());
    save("dx.npy", x.grad());
    if (*norm.weight) {
        save("dgamma.npy", (*norm.weight)->grad());
        save("dbeta.npy", (*norm.bias)->grad());
    }
    fmt::print("norm: {} ({}) on {} {}; wrote {} files to {}\n", c.title(), b.impl, tg::dtype_name<T>(),
               tg::shape_str(c.x.shape()), *norm.weight ? 4 : 2, b.out);
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
            add_kind_options(c, a);
            add_bn_options(c, a.bn, true);
        },
        check_norm_args, run_norm);
}

}  // namespace tgcli
