#include "cli/train.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include "cli/diagnostics.hpp"
#include "cli/plot.hpp"
#include "tapegrad.hpp"

namespace tgcli {

namespace fs = std::filesystem;
using namespace tg::nn;

void add_train_options(CLI::App* cmd, TrainArgs& a, bool experiment) {
    cmd->add_option("--data", a.data, "fashion-mnist, spirals, moons, or csv:PATH (features then an integer label per row)")
        ->capture_default_str();
    cmd->add_option("--data-dir", a.data_dir, "where the Fashion-MNIST IDX files are")->capture_default_str();
    cmd->add_option("--scale", a.scale,
                    "input scaling: auto (pixels / 255; standard for csv; none for spirals and moons), unit "
                    "(to [0, 1]), standard (zero mean, unit variance) or none")
        ->check(CLI::IsMember({"auto", "unit", "standard", "none"}))
        ->capture_default_str();
    cmd->add_option("--samples", a.samples, "points generated for spirals and moons")->capture_default_str();
    cmd->add_option("--noise", a.noise, "standard deviation of the noise for spirals (default 0) and moons (default 0.1)");
    cmd->add_option("--test-fraction", a.test_fraction, "share of spirals, moons or csv rows kept for testing")
        ->capture_default_str();
    cmd->add_option("--hidden", a.hidden, "hidden layer widths, comma-separated")->capture_default_str();
    if (!experiment) {
        cmd->add_option("--norm", a.norm,
                        "normalisation after each hidden Linear: none, batch (BatchNorm1d) or layer (LayerNorm over "
                        "the layer's width); default none")
            ->check(CLI::IsMember({"none", "batch", "layer"}));
        cmd->add_option("--norm-impl", a.norm_impl, "how --norm is built: fused (one node) or composite (primitives)")
            ->check(CLI::IsMember({"composite", "fused"}))
            ->capture_default_str();
        cmd->add_option("--bn", a.bn, "batch norm after each hidden Linear: none, composite or fused (short for "
                                      "--norm batch --norm-impl IMPL)")
            ->check(CLI::IsMember({"none", "composite", "fused"}))
            ->capture_default_str();
    }
    cmd->add_option("--act", a.act, "activation: relu, tanh or sigmoid")
        ->check(CLI::IsMember({"relu", "tanh", "sigmoid"}))
        ->capture_default_str();
    cmd->add_option("--dropout", a.dropout, "dropout after each activation (0: none)")->capture_default_str();
    cmd->add_option("--optim", a.optim, "sgd or adam")->check(CLI::IsMember({"sgd", "adam"}))->capture_default_str();
    cmd->add_option("--lr", a.lr, "learning rate (default 1e-3 for adam, 0.1 for sgd)");
    cmd->add_option("--momentum", a.momentum, "SGD momentum")->capture_default_str();
    cmd->add_flag("--nesterov", a.nesterov, "SGD with Nesterov momentum");
    cmd->add_option("--weight-decay", a.weight_decay, "L2 penalty added to the gradient")->capture_default_str();
    cmd->add_option("--batch-size", a.batch_size, "examples per step")->capture_default_str()->check(CLI::Range(1, 1 << 24));
    cmd->add_option("--epochs", a.epochs, "passes over the training set")->capture_default_str();
    cmd->add_option("--seed", a.seed, "seeds the weights, the batches and the synthetic data")->capture_default_str();
    cmd->add_option("--dtype", a.dtype, "f32 or f64")->check(CLI::IsMember({"f32", "f64"}))->capture_default_str();
    cmd->add_option("--threads", a.threads, "threads for BLAS and tapegrad's kernels (0: one per core)")->capture_default_str();
    cmd->add_option("--log", a.log, "write every epoch's numbers to this CSV file");
    cmd->add_option("--plot", a.plot, experiment ? "plot test accuracy per epoch of the three runs (.svg or .png)"
                                                 : "plot loss and accuracy curves (.svg or .png) with gnuplot");
    if (!experiment) {
        cmd->add_option("--save", a.save,
                        "save a checkpoint to this folder after every epoch and on Ctrl-C: the model as .npy "
                        "files (loadable with --load and by PyTorch), the optimiser and the training state");
        auto* load = cmd->add_option("--load", a.load, "start from a model saved with --save (same architecture)");
        cmd->add_option("--resume", a.resume,
                        "continue the run checkpointed in this folder with its settings, to the same result as "
                        "an uninterrupted run; --epochs may raise the total; saves back to it unless --save is given")
            ->excludes(load);
    }
    if (!experiment) {
        cmd->add_option("--diagnostics", a.diagnostics,
                        "every --diagnostics-every steps, each hidden activation's mean, std, saturated share and "
                        "gradient, and each weight's update-to-data ratio (makemore part 3): printed at the end, drawn "
                        "into this .svg or .png, with its CSV beside it");
        cmd->add_option("--diagnostics-every", a.diagnostics_every, "steps between two diagnostics (20)")
            ->capture_default_str();
    }
    cmd->add_flag("--quiet", a.quiet, "no progress bar");
    a.command = cmd;
    cmd->add_flag("--detect-anomaly", a.detect_anomaly,
                  "check every op's result and every gradient for NaN and infinity, and stop at the first, "
                  "naming the op and how its input was computed (slower)");
}

namespace {

std::vector<std::size_t> parse_hidden(const std::string& s) {
    std::vector<std::size_t> out;
    std::size_t pos = 0;
    while (pos <= s.size() && !s.empty()) {
        const std::size_t comma = s.find(',', pos);
        const std::string part = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        char* end = nullptr;
        const long v = std::strtol(part.c_str(), &end, 10);
        if (part.empty() || *end != '\0' || v <= 0 || v > 1 << 20) {
            throw tg::ValueError(fmt::format("train: --hidden must be positive widths separated by commas, got \"{}\"", s));
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

std::optional<HiddenNorm> hidden_norm(const TrainArgs& a) {
    if (a.norm.empty()) {
        const std::optional<BatchNormImpl> bn = batchnorm_named(a.bn);
        return bn ? std::optional<HiddenNorm>(HiddenNorm{NormKind::batch, *bn}) : std::nullopt;
    }
    if (a.bn != "none") {
        throw tg::ValueError(fmt::format("train: --bn {0} is short for --norm batch --norm-impl {0}; give --norm or --bn, "
                                         "not both",
                                         a.bn));
    }
    if (a.norm == "none") {
        return std::nullopt;
    }
    const NormKind kind = norm_kind_named(a.norm);
    if (kind == NormKind::group) {
        throw tg::ValueError("train: --norm takes none, batch or layer (group norm is for channels, not an MLP's width)");
    }
    return HiddenNorm{kind, *batchnorm_named(a.norm_impl)};
}

std::string norm_label(const std::optional<HiddenNorm>& norm) {
    return norm ? fmt::format("{} {} norm", to_string(norm->impl), to_string(norm->kind)) : "none";
}

MlpConfig mlp_config(const TrainArgs& a, const std::optional<HiddenNorm>& norm) {
    MlpConfig m;
    m.hidden = parse_hidden(a.hidden);
    m.norm = norm;
    m.act = activation_named(a.act);
    m.dropout = a.dropout;
    m.seed = a.seed;
    return m;
}

OptimConfig optim_config(const TrainArgs& a) {
    OptimConfig o;
    o.kind = optimizer_named(a.optim);
    o.lr = a.lr.value_or(a.optim == "adam" ? 1e-3 : 0.1);
    o.momentum = a.momentum;
    o.nesterov = a.nesterov;
    o.weight_decay = a.weight_decay;
    return o;
}

void check_train_args(const TrainArgs& a) {
    auto bad = [](const std::string& message) { throw tg::ValueError("train: " + message); };
    parse_hidden(a.hidden);
    hidden_norm(a);
    const bool synthetic = a.data == "spirals" || a.data == "moons";
    if (a.data != "fashion-mnist" && !synthetic && !(a.data.rfind("csv:", 0) == 0 && a.data.size() > 4)) {
        bad(fmt::format("--data must be fashion-mnist, spirals, moons or csv:PATH, got \"{}\"", a.data));
    }
    if (synthetic && (a.samples < 4 || a.samples > 10'000'000)) {
        bad(fmt::format("--samples must lie between 4 and 10,000,000, got {}", a.samples));
    }
    if (!(a.noise == -1 || (a.noise >= 0 && a.noise <= 1e6))) {
        bad(fmt::format("--noise must be a standard deviation between 0 and 1e6, got {}", a.noise));
    }
    if (!(a.test_fraction > 0 && a.test_fraction < 1)) {
        bad(fmt::format("--test-fraction must lie strictly between 0 and 1, got {}", a.test_fraction));
    }
    if (!(a.dropout >= 0 && a.dropout < 1)) {
        bad(fmt::format("--dropout must lie in [0, 1), got {}", a.dropout));
    }
    if (a.lr && !(*a.lr >= 0 && std::isfinite(*a.lr))) {
        bad(fmt::format("--lr must be a finite number of 0 or more, got {}", *a.lr));
    }
    if (!(a.momentum >= 0 && std::isfinite(a.momentum))) {
        bad(fmt::format("--momentum must be a finite number of 0 or more, got {}", a.momentum));
    }
    if (a.nesterov && (a.optim != "sgd" || a.momentum <= 0)) {
        bad("--nesterov needs --optim sgd and a --momentum above 0");
    }
    if (!(a.weight_decay >= 0 && std::isfinite(a.weight_decay))) {
        bad(fmt::format("--weight-decay must be a finite number of 0 or more, got {}", a.weight_decay));
    }
    if (a.epochs > 1'000'000) {
        bad(fmt::format("--epochs must be at most 1,000,000, got {}", a.epochs));
    }
    if (a.threads < 0 || a.threads > 1024) {
        bad(fmt::format("--threads must lie between 0 (one per core) and 1024, got {}", a.threads));
    }
    if (!a.diagnostics.empty()) {
        const std::string ext = fs::path(a.diagnostics).extension().string();
        if (ext != ".svg" && ext != ".png") {
            bad(fmt::format("--diagnostics {} must end in .svg or .png", a.diagnostics));
        }
        if (a.diagnostics_every == 0) {
            bad("--diagnostics-every must be at least 1");
        }
    }
    if (!a.plot.empty()) {
        const std::string ext = fs::path(a.plot).extension().string();
        if (ext != ".svg" && ext != ".png") {
            bad(fmt::format("--plot {} must end in .svg or .png", a.plot));
        }
    }
    if (!a.resume.empty() && !a.load.empty()) {
        bad("--load and --resume cannot be used together: --resume restores the model with its optimiser");
    }
}

template <class T>
Split<T> load_data(const TrainArgs& a) {
    Split<T> d;
    std::string scale = a.scale;
    if (a.data == "fashion-mnist") {
        d = load_fashion_mnist<T>(a.data_dir);
        if (scale == "auto") {
            scale_by(d, 255.0);
            scale = "none";
        }
    } else if (a.data == "spirals" || a.data == "moons") {
        const Dataset<T> all = a.data == "spirals" ? two_spirals<T>(a.samples, a.seed, a.noise >= 0 ? a.noise : 0.0)
                                                   : two_moons<T>(a.samples, a.seed, a.noise >= 0 ? a.noise : 0.1);
        d = split(all, a.test_fraction, a.seed);
        scale = scale == "auto" ? "none" : scale;
    } else if (a.data.rfind("csv:", 0) == 0) {
        d = split(load_csv<T>(a.data.substr(4)), a.test_fraction, a.seed);
        scale = scale == "auto" ? "standard" : scale;
    } else {
        throw tg::ValueError(fmt::format("train: --data must be fashion-mnist, spirals, moons or csv:PATH, got {}", a.data));
    }
    if (scale == "unit") {
        scale_to_unit(d);
    } else if (scale == "standard") {
        standardize(d);
    }
    return d;
}

template Split<float> load_data<float>(const TrainArgs&);
template Split<double> load_data<double>(const TrainArgs&);

int with_anomaly_mode(const TrainArgs& a, int (*f32)(const TrainArgs&), int (*f64)(const TrainArgs&)) {
    check_train_args(a);
    std::optional<tg::DetectAnomalyGuard> anomaly;
    if (a.detect_anomaly) {
        anomaly.emplace();
    }
    return a.dtype == "f64" ? f64(a) : f32(a);
}

namespace {

// The settings that decide a run's result, as a checkpoint records them.
nlohmann::json settings_json(const TrainArgs& a) {
    return {{"data", a.data},           {"data_dir", a.data_dir},
            {"scale", a.scale},         {"samples", a.samples},
            {"noise", a.noise},         {"test_fraction", a.test_fraction},
            {"hidden", a.hidden},       {"bn", a.bn},
            {"norm", a.norm},           {"norm_impl", a.norm_impl},
            {"act", a.act},             {"dropout", a.dropout},
            {"optim", a.optim},         {"lr", optim_config(a).lr},
            {"momentum", a.momentum},   {"nesterov", a.nesterov},
            {"weight_decay", a.weight_decay}, {"batch_size", a.batch_size},
            {"epochs", a.epochs},       {"seed", a.seed},
            {"dtype", a.dtype}};
}

// The options of a resumed run: the checkpoint's settings, except where the command line gives
// one, which must then agree with the checkpoint (the data folder and --epochs may change).
TrainArgs resumed_args(const TrainArgs& given, const nlohmann::json& settings) {
    TrainArgs a = given;
    const auto given_option = [&](const char* option) { return given.command && given.command->count(option) > 0; };
    const auto pin = [&](const char* key, const char* option, auto& value, bool may_change = false) {
        using V = std::decay_t<decltype(value)>;
        if (!settings.contains(key)) {
            throw tg::IoError(fmt::format("resume: the checkpoint's settings lack \"{}\"", key));
        }
        const V saved = settings.at(key).get<V>();
        if (!given_option(option)) {
            value = saved;
        } else if (!may_change && value != saved) {
            throw tg::ValueError(fmt::format("resume: {} {} differs from the checkpoint's {}; drop it to continue the "
                                             "run as it was started",
                                             option, nlohmann::json(value).dump(), nlohmann::json(saved).dump()));
        }
    };
    try {
        pin("data", "--data", a.data);
        pin("data_dir", "--data-dir", a.data_dir, true);
        pin("scale", "--scale", a.scale);
        pin("samples", "--samples", a.samples);
        pin("noise", "--noise", a.noise);
        pin("test_fraction", "--test-fraction", a.test_fraction);
        pin("hidden", "--hidden", a.hidden);
        pin("bn", "--bn", a.bn);
        if (settings.contains("norm")) {  // checkpoints written before --norm have --bn alone
            pin("norm", "--norm", a.norm);
            pin("norm_impl", "--norm-impl", a.norm_impl);
        }
        pin("act", "--act", a.act);
        pin("dropout", "--dropout", a.dropout);
        pin("optim", "--optim", a.optim);
        double lr = optim_config(a).lr;
        pin("lr", "--lr", lr);
        a.lr = lr;
        pin("momentum", "--momentum", a.momentum);
        pin("nesterov", "--nesterov", a.nesterov);
        pin("weight_decay", "--weight-decay", a.weight_decay);
        pin("batch_size", "--batch-size", a.batch_size);
        pin("epochs", "--epochs", a.epochs, true);
        pin("seed", "--seed", a.seed);
        pin("dtype", "--dtype", a.dtype);
    } catch (const nlohmann::json::exception& e) {
        throw tg::IoError(fmt::format("resume: {}/{} has malformed settings ({})", given.resume, tg::io::folder_manifest,
                                      e.what()));
    }
    check_train_args(a);
    return a;
}

// A progress bar redrawn in place on a terminal; plain lines at every tenth otherwise.
Progress progress_for(std::size_t epoch, std::size_t epochs, bool quiet) {
    if (quiet) {
        return {};
    }
    const bool tty = isatty(fileno(stdout)) != 0;
    return [=, last = std::size_t{0}](std::size_t done, std::size_t total, double loss, double rate) mutable {
        if (tty) {
            if (done != total && done - last < std::max<std::size_t>(1, total / 100)) {
                return;
            }
            last = done;
            const std::size_t width = 30;
            const std::size_t filled = width * done / total;
            fmt::print("\repoch {}/{} [{}{}] {}/{} loss {:.4f} {:.0f} ex/s ", epoch + 1, epochs, std::string(filled, '#'),
                       std::string(width - filled, '.'), done, total, loss, rate);
            std::fflush(stdout);
        } else if (done == total || (done * 10 / total) != ((done - 1) * 10 / total)) {
            fmt::print("epoch {}/{} batch {}/{} loss {:.4f} {:.0f} ex/s\n", epoch + 1, epochs, done, total, loss, rate);
        }
    };
}

// Ctrl-C (SIGINT) and SIGTERM ask training to stop after the current batch; a second one ends
// the process at once (SA_RESETHAND puts the default action back).
volatile std::sig_atomic_t stop_requested = 0;

extern "C" void request_stop(int) { stop_requested = 1; }

class StopSignals {
public:
    StopSignals() {
        stop_requested = 0;
        struct sigaction sa {};
        sa.sa_handler = request_stop;
        sa.sa_flags = SA_RESETHAND;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int_);
        sigaction(SIGTERM, &sa, &old_term_);
    }
    ~StopSignals() {
        sigaction(SIGINT, &old_int_, nullptr);
        sigaction(SIGTERM, &old_term_, nullptr);
    }
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

private:
    struct sigaction old_int_ {};
    struct sigaction old_term_ {};
};

template <class T>
int train(const TrainArgs& given) {
    TrainArgs a = given;
    TrainingState state;
    if (!given.resume.empty()) {
        state = read_training_state(given.resume);
        a = resumed_args(given, state.settings);
    }
    if (a.threads > 0) {
        tg::set_threads(a.threads);
    }
    Split<T> d = load_data<T>(a);
    const std::optional<HiddenNorm> norm = hidden_norm(a);
    auto model = make_mlp<T>(d.train.features(), d.train.classes, mlp_config(a, norm));
    const OptimConfig o = optim_config(a);
    auto opt = make_optimizer(*model, o);
    if (!a.resume.empty()) {
        load_checkpoint(a.resume, *model, *opt);
    } else if (!a.load.empty()) {
        load_model(*model, a.load);
    }
    state.settings = settings_json(a);
    const std::string save = a.save.empty() ? a.resume : a.save;
    const tg::BlasInfo blas = tg::blas_info();
    fmt::print("{} on {} ({} train, {} test, {} features, {} classes), {} {}, lr {:g}, batch {}, BLAS {} x{}\n",
               tg::dtype_name<T>(), a.data, d.train.size(), d.test.size(), d.train.features(), d.train.classes, a.optim,
               norm ? norm_label(norm) : "no normalisation", o.lr, a.batch_size, blas.core, blas.threads);
    fmt::print("{}\n", model->describe());
    if (!a.resume.empty() && state.cursor.epoch >= a.epochs) {
        fmt::print("{} has finished its {} epochs; give --epochs N to train further\n", a.resume, state.cursor.epoch);
    } else if (!a.resume.empty()) {
        fmt::print("resuming {} at epoch {}, batch {}\n", a.resume, state.cursor.epoch + 1, state.cursor.batches_done);
    }

    const StopSignals signals;
    const bool tty = isatty(fileno(stdout)) != 0;
    auto interrupted = [&]() {
        if (!a.quiet && tty) {
            fmt::print("\n");
        }
        std::fflush(stdout);
        const std::size_t batches = (d.train.size() + a.batch_size - 1) / a.batch_size;
        const std::string where =
            state.cursor.batches_done == 0
                ? fmt::format("epoch {} of {}", state.cursor.epoch, a.epochs)
                : fmt::format("batch {} of {} in epoch {}", state.cursor.batches_done, batches, state.cursor.epoch + 1);
        if (save.empty()) {
            std::fprintf(stderr, "tapegrad: interrupted after %s; nothing was saved (give --save DIR to keep a "
                         "checkpoint)\n", where.c_str());
        } else {
            save_checkpoint(save, *model, *opt, state);
            std::fprintf(stderr, "tapegrad: interrupted after %s; checkpoint saved, continue with: tapegrad train "
                         "--resume %s\n", where.c_str(), save.c_str());
        }
        return exit_interrupted;
    };
    const auto stop = [] { return stop_requested != 0; };
    std::optional<Diagnostics<T>> diagnostics;
    const std::size_t batches_per_epoch = (d.train.size() + a.batch_size - 1) / a.batch_size;
    if (!a.diagnostics.empty()) {
        std::vector<std::size_t> first(std::min<std::size_t>(d.train.size(), 512));
        std::iota(first.begin(), first.end(), std::size_t{0});
        auto [px, py] = gather(d.train, first, 0, first.size());
        diagnostics.emplace(*model, a.diagnostics, a.diagnostics_every, Dataset<T>{px.value(), py, d.train.classes});
    }
    bool saved = false;
    while (state.cursor.epoch < a.epochs) {
        const std::size_t epoch = state.cursor.epoch;
        Progress progress = progress_for(epoch, a.epochs, a.quiet);
        if (diagnostics) {  // measured after the optimiser's step, before the progress bar is drawn
            progress = [&, bar = progress](std::size_t done, std::size_t total, double loss, double rate) {
                diagnostics->after_step(epoch * batches_per_epoch + done);
                if (bar) {
                    bar(done, total, loss, rate);
                }
            };
        }
        std::optional<EpochStats> done = train_batches(*model, *opt, d.train, a.batch_size, a.seed, state.cursor,
                                                       progress, stop);
        if (!done) {
            return interrupted();
        }
        EpochStats s = *done;
        s.test_acc = accuracy(*model, d.test);
        state.history.push_back(s);
        state.cursor = EpochCursor{};
        state.cursor.epoch = epoch + 1;
        if (!a.quiet && tty) {
            fmt::print("\n");
        }
        fmt::print("epoch {:>3}  train loss {:.4f}  train acc {:.4f}  test acc {:.4f}  {:.2f} s\n", s.epoch, s.train_loss,
                   s.train_acc, s.test_acc, s.seconds);
        if (!a.log.empty()) {
            write_log(a.log, state.history);
        }
        if (!save.empty()) {
            save_checkpoint(save, *model, *opt, state);
            saved = true;
        }
        if (stop() && state.cursor.epoch < a.epochs) {
            return interrupted();
        }
    }
    if (state.history.empty()) {
        fmt::print("test acc {:.4f}\n", accuracy(*model, d.test));
        if (!save.empty()) {
            save_checkpoint(save, *model, *opt, state);
            saved = true;
        }
    }
    if (saved) {
        fmt::print("saved to {}\n", save);
    }
    if (diagnostics) {
        diagnostics->finish();
    }
    if (!a.plot.empty() && !state.history.empty()) {
        const std::string data = a.log.empty() ? a.plot + ".csv" : a.log;
        if (a.log.empty()) {
            write_log(data, state.history);
        }
        plot_training(a.plot, data);
        fmt::print("plot written to {}\n", a.plot);
    }
    return 0;
}

}  // namespace

Command train_command(CLI::App& app) {
    auto* cmd = app.add_subcommand("train", "train an MLP on Fashion-MNIST, spirals, moons or a CSV file");
    auto args = std::make_shared<TrainArgs>();
    add_train_options(cmd, *args, false);
    return Command{cmd, [args] { check_train_args(*args); },
                   [args] { return with_anomaly_mode(*args, train<float>, train<double>); }};
}

}  // namespace tgcli
