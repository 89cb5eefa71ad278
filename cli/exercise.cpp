#include "cli/exercise.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "io/files.hpp"
#include "io/npy.hpp"
#include "see/embedded.hpp"
#include "grade/exercise.hpp"
#include "see/html.hpp"
#include "ops/norm.hpp"

namespace tgcli {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The starters, embedded from examples/exercises/ at build time.
const tg::see::EmbeddedFile starters[] = {
#include "starters.inc"
};

std::string starter(const std::string& name) {
    const char* text = tg::see::embedded(starters, name);
    if (!*text) {
        throw tg::Error(fmt::format("exercise: no starter named {} in this build", name));
    }
    return text;
}

// The learner's CMake project for the C++ starter: tapegrad's own source tree built beside it.
// The folder that holds this program: a build tree (tapegradConfig.cmake beside it) or an installed
// prefix's bin/.
fs::path program_dir() {
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::path() : exe.parent_path();
}

// The C++ starter's project: it finds the tapegrad that wrote it (this build tree, or the prefix it
// is installed in) and builds one file against the library, which is already built.
std::string cpp_project(const std::string& target) {
    const fs::path here = program_dir();
    return fmt::format(R"(# Builds the C++ starter against the tapegrad that wrote it (its build tree or its installed
# prefix; the library is not rebuilt): cmake -S . -B build && cmake --build build
cmake_minimum_required(VERSION 3.22)
project({0}_exercise LANGUAGES CXX)
set(CMAKE_BUILD_TYPE Release CACHE STRING "")
find_package(tapegrad 0.1 REQUIRED HINTS "{1}" "{2}")
add_executable({0} {0}.cpp)
target_link_libraries({0} PRIVATE tapegrad::tapegrad)
)",
                       target, here.string(), here.parent_path().string());
}

std::string quote(const std::string& s) { return s.find(' ') == std::string::npos ? s : "'" + s + "'"; }

// The exercises' file names and what they hold, for check --help.
const char* file_table = R"(Files and the quantities they hold (tapegrad exercise bn):
  forward   mu.npy mu = 1/N sum_i x_i           xc.npy xc = x - mu
            sigma2.npy 1/N sum_i (x_i - mu)^2    std.npy sqrt(sigma2 + eps)
            xhat.npy (x - mu) / std              y.npy gamma * xhat + beta
  backward  dbeta.npy dL/dbeta                   dgamma.npy dL/dgamma
            dxhat.npy dL/dxhat                   dsigma2.npy dL/dsigma2
            dmu_xhat.npy dL/dmu from xhat        dmu_sigma2.npy dL/dmu from sigma2
            dmu.npy dL/dmu                       dx_xhat.npy dL/dX from xhat
            dx_sigma2.npy dL/dX from sigma2      dx_mu.npy dL/dX from mu
            dx.npy dL/dX
The mlp exercise (makemore part 4, exercise 1) uses makemore's names: <name>.npy for a value,
d<name>.npy for its gradient (dlogprobs, dprobs, dcounts_sum_inv, dcounts_sum, dcounts,
dnorm_logits, dlogit_maxes, dlogits, dh, dW2, db2, dhpreact, dbngain, dbnbias, dbnraw, dbnvar_inv,
dbnvar, dbndiff2, dbndiff, dbnmeani, dhprebn, dembcat, dW1, db1, demb, dC), graded in that order.
Status: exact (equal to the last bit), close (within 1e-12 + 1e-9 relative), WRONG, not given.
Exit code: 0 when everything handed in is right, 1 otherwise.)";

template <class T>
void save(const fs::path& dir, const std::string& name, const tg::Array<T>& a) {
    tg::io::save_npy((dir / (name + ".npy")).string(), a);
}

void add_exercise_options(CLI::App* cmd, ExerciseArgs& a) {
    cmd->add_option("kind", a.kind, "bn or mlp")->check(CLI::IsMember({"bn", "mlp"}))->capture_default_str();
    cmd->add_option("--out", a.out, "folder to write it into (default exercise_<kind>); must not hold an exercise yet");
    cmd->add_option("--seed", a.seed, "seed of the inputs")->capture_default_str();
    cmd->add_option("--n", a.n, "bn: rows of the batch")->capture_default_str();
    cmd->add_option("--d", a.d, "bn: features")->capture_default_str();
    cmd->add_option("--kind", a.norm,
                    "bn: the normalisation, batch (over the rows), layer (over each row's features) or group (over "
                    "each row's groups of features, --groups G)")
        ->check(CLI::IsMember({"batch", "layer", "group"}))
        ->capture_default_str();
    cmd->add_option("--groups", a.groups, "bn --kind group: the number of groups, a divisor of --d");
}

tg::see::NormKind exercise_kind(const ExerciseArgs& a) { return tg::see::norm_kind_named(a.norm); }

// The starter for the bn exercise's normalisation.
std::string bn_script(const ExerciseArgs& a) {
    return a.norm == "layer" ? "ln_backward.py" : a.norm == "group" ? "gn_backward.py" : "bn_backward.py";
}

void add_check_options(CLI::App* cmd, CheckArgs& a) {
    cmd->add_option("--mine", a.mine, "the folder with your .npy files")->required();
    cmd->add_option("--exercise", a.exercise, "the exercise folder (exercise.json and the inputs); default: --mine");
    cmd->add_option("--format", a.format, "text, md (Markdown) or json")
        ->check(CLI::IsMember({"text", "md", "json"}))
        ->capture_default_str();
    cmd->add_option("--html", a.html, "also write a page with the graded result and the exercise's graph, the first "
                                      "wrong quantity's tensor marked, to step through in a browser");
    cmd->footer(file_table);
}

void check_exercise_args(const ExerciseArgs& a) {
    if (a.kind != "bn" && (a.norm != "batch" || a.groups)) {
        throw tg::ValueError(fmt::format("exercise: --kind and --groups are for the bn exercise; {} has its own network",
                                         a.kind));
    }
    if (a.kind != "bn") {
        return;
    }
    if (a.n < 1 || a.d < 1 || a.n > 4096 || a.d > 4096) {
        throw tg::ValueError(fmt::format("exercise: --n and --d must be 1 to 4096, got {} x {}", a.n, a.d));
    }
    if (a.norm == "batch" && a.n < 2) {
        throw tg::ValueError(fmt::format("exercise: --n must be 2 or more for batch norm (its means run over the rows), "
                                         "got {}",
                                         a.n));
    }
    if (a.norm == "layer" && a.d < 2) {
        throw tg::ValueError(fmt::format("exercise: --d must be 2 or more for layer norm (its means run over a row's "
                                         "features), got {}",
                                         a.d));
    }
    if (a.norm != "group" && a.groups) {
        throw tg::ValueError("exercise: --groups is for --kind group");
    }
    if (a.norm == "group") {
        tg::groupnorm_layout("exercise", {a.n, a.d}, a.groups);  // G divides D, two values a group or more
    }
}

int run_exercise(const ExerciseArgs& a) {
    check_exercise_args(a);
    const std::string short_name = a.kind != "bn" ? a.kind : a.norm == "layer" ? "ln" : a.norm == "group" ? "gn" : "bn";
    const fs::path dir = a.out.empty() ? fs::path("exercise_" + short_name) : fs::path(a.out);
    const std::string script = a.kind == "bn" ? bn_script(a) : a.kind + "_backward.py";
    if (fs::exists(dir / script) || fs::exists(dir / "exercise.json")) {
        throw tg::IoError(fmt::format("exercise: {} already holds an exercise ({}); give another --out, or remove it to "
                                      "start again",
                                      dir.string(), fs::exists(dir / script) ? script : "exercise.json"));
    }
    fs::create_directories(dir);
    json manifest{{"exercise", a.kind}, {"seed", a.seed}};
    std::string inputs;
    if (a.kind == "bn") {
        const tg::grade::BnExercise e = tg::grade::make_bn_exercise(a.seed, a.n, a.d, exercise_kind(a), a.groups);
        save(dir, "x", e.x), save(dir, "dy", e.dy), save(dir, "gamma", e.gamma), save(dir, "beta", e.beta);
        manifest["eps"] = e.eps;
        manifest["norm"] = a.norm;
        if (a.norm == "group") {
            manifest["groups"] = a.groups;
        }
        inputs = fmt::format("x.npy and dy.npy ({} x {}), gamma.npy and beta.npy", a.n, a.d);
        if (a.norm == "batch") {  // the C++ starter is batch norm's
            fs::create_directories(dir / "cpp");
            tg::io::write_file_atomically((dir / "cpp" / "bn_backward.cpp").string(), {starter("bn_backward.cpp")});
            tg::io::write_file_atomically((dir / "cpp" / "CMakeLists.txt").string(), {cpp_project("bn_backward")});
        }
    } else {
        const tg::grade::MlpExercise e = tg::grade::make_mlp_exercise(a.seed);
        save(dir, "C", e.C), save(dir, "Xb", e.Xb), save(dir, "Yb", e.Yb), save(dir, "W1", e.W1), save(dir, "b1", e.b1);
        save(dir, "bngain", e.bngain), save(dir, "bnbias", e.bnbias), save(dir, "W2", e.W2), save(dir, "b2", e.b2);
        inputs = fmt::format("the batch Xb.npy ({} x {} contexts) and Yb.npy, the embedding table C.npy ({} x {}) and the "
                             "parameters W1, b1, bngain, bnbias, W2, b2",
                             e.Xb.shape()[0], e.Xb.shape()[1], e.C.shape()[0], e.C.shape()[1]);
    }
    tg::io::write_file_atomically((dir / script).string(), {starter(script)});
    tg::io::write_file_atomically((dir / "exercise.json").string(), {manifest.dump(2) + "\n"});
    const std::string d = quote(dir.string());
    const std::string what = a.kind != "bn" ? a.kind : a.norm == "batch" ? "bn" : fmt::format("bn ({} norm)", a.norm);
    fmt::print("Wrote the {} exercise (seed {}) to {}: {}, the NumPy starter {}{}.\n", what, a.seed, dir.string(), inputs,
               script, a.kind == "bn" && a.norm == "batch" ? " and a C++ starter in cpp/" : "");
    // Debian's python3, which has python3-numpy (scripts/install-deps.sh), even when another comes first on PATH
    const std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
    fmt::print("Fill in its TODOs, then run:\n  {} {}/{}\n  {} check --mine {}\n", python, d, script, quote(a.program), d);
    return 0;
}

int run_check(const CheckArgs& a) {
    const fs::path dir = a.exercise.empty() ? fs::path(a.mine) : fs::path(a.exercise);
    const fs::path manifest_path = dir / "exercise.json";
    if (!fs::exists(manifest_path)) {
        throw tg::IoError(fmt::format("check: {} not found; give the folder written by `tapegrad exercise` with "
                                      "--exercise (or make one: tapegrad exercise bn --out {})",
                                      manifest_path.string(), dir.string()));
    }
    json manifest;
    try {
        std::ifstream in(manifest_path);
        manifest = json::parse(in);
    } catch (const json::exception& e) {
        throw tg::IoError(fmt::format("check: {} is not valid JSON: {}", manifest_path.string(), e.what()));
    }
    const std::string kind = manifest.value("exercise", "");
    auto in = [&](const char* name) { return tg::io::load_npy<double>((dir / (std::string(name) + ".npy")).string()); };
    std::vector<tg::grade::Quantity> qs;
    tg::grade::CheckOptions o;
    tg::grade::BnExercise bn;
    tg::grade::MlpExercise mlp;
    if (kind == "bn") {
        bn.x = in("x"), bn.dy = in("dy"), bn.gamma = in("gamma"), bn.beta = in("beta");
        bn.eps = manifest.value("eps", 1e-5);
        bn.kind = tg::see::norm_kind_named(manifest.value("norm", "batch"));
        bn.groups = manifest.value("groups", std::size_t{0});
        if (bn.kind == tg::see::NormKind::group) {
            tg::groupnorm_layout("check", bn.x.shape(), bn.groups);
        }
        qs = tg::grade::batchnorm_quantities(bn);
        o.batch = bn.set_size();
    } else if (kind == "mlp") {
        mlp.C = in("C"), mlp.W1 = in("W1"), mlp.b1 = in("b1"), mlp.bngain = in("bngain"), mlp.bnbias = in("bnbias");
        mlp.W2 = in("W2"), mlp.b2 = in("b2");
        mlp.Xb = tg::io::load_npy<std::int64_t>((dir / "Xb.npy").string());
        mlp.Yb = tg::io::load_npy<std::int64_t>((dir / "Yb.npy").string());
        qs = tg::grade::mlp_quantities(mlp);
        o.batch = mlp.Xb.shape()[0];
    } else {
        throw tg::ValueError(fmt::format("check: {} names the exercise \"{}\"; expected \"bn\" or \"mlp\"",
                                         manifest_path.string(), kind));
    }
    const tg::grade::CheckResult r = tg::grade::check_gradients(qs, a.mine, o);
    if (!a.html.empty()) {
        tg::see::HtmlPage page(fmt::format("tapegrad check: your gradients in {} ({} exercise)", a.mine, kind));
        page.add_html("your gradients", tg::grade::check_html(r, qs));
        const std::vector<std::string> marked{r.first_wrong ? qs[*r.first_wrong].node : std::string()};
        if (kind == "bn") {
            page.add_trace("the graph", tg::grade::bn_exercise_trace(bn), {}, {}, marked);
        } else {
            page.add_trace("the graph", tg::grade::mlp_exercise_trace(mlp), {}, {}, marked);
        }
        page.write(a.html);
    }
    if (a.format == "json") {
        fmt::print("{}\n", tg::grade::check_json(r, qs).dump(2));
    } else if (a.format == "md") {
        fmt::print("### Your gradients in {}, checked against the engine\n\n{}", a.mine, tg::grade::check_markdown(r, qs));
    } else {
        const std::string norm = kind == "bn" && bn.kind != tg::see::NormKind::batch
                                     ? fmt::format(", {} norm", tg::see::to_string(bn.kind))
                                     : std::string();
        fmt::print("Your gradients in {}, checked against the engine ({} exercise{}, N = {}):\n\n{}", a.mine, kind, norm,
                   o.batch, tg::grade::check_text(r, qs));
    }
    return r.ok() ? 0 : 1;
}

}  // namespace

Command exercise_command(CLI::App& app, const std::string& program) {
    auto* cmd = app.add_subcommand("exercise",
                                   "write an exercise to solve by hand and grade with `tapegrad check`: bn (batch "
                                   "norm's backward in the derivation's steps; --kind layer or group for layer norm or "
                                   "group norm) or mlp (makemore part 4's network)");
    auto args = std::make_shared<ExerciseArgs>();
    args->program = program;
    return make_command(cmd, args, add_exercise_options, check_exercise_args, run_exercise);
}

Command check_command(CLI::App& app) {
    auto* cmd = app.add_subcommand("check",
                                   "grade your own gradients: every <name>.npy in --mine against the engine, in backward "
                                   "order, and an explanation of the first wrong one");
    // nothing to check without reading the learner's folder
    return make_command(cmd, std::make_shared<CheckArgs>(), add_check_options, [](const CheckArgs&) {}, run_check);
}

}  // namespace tgcli
