// The classic batch-norm experiments (cli/classics.hpp). The pieces they share come first: the
// data, a network built with a chosen initialisation, batches drawn step by step, a progress bar,
// the buffers a probe must not disturb; then one function per experiment.
#include "cli/classics.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <array>
#include <filesystem>
#include <random>
#include <sstream>

#include "cli/plot.hpp"
#include "tapegrad.hpp"

namespace tgcli {

using namespace tg::nn;
using tg::Array;
using tg::Tensor;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// ---- data -----------------------------------------------------------------------------------

template <class T>
Dataset<T> first_rows(const Dataset<T>& d, std::size_t n) {
    n = std::min(n, d.size());
    std::vector<std::size_t> order(d.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    auto [x, y] = gather(d, order, 0, n);
    return Dataset<T>{x.value(), y, d.classes};
}

// Fashion-MNIST (or MNIST from --data-dir), pixels / 255; the training set cut to its first
// `train_size` examples after a seeded shuffle, the test set to `test_size`.
template <class T>
Split<T> load_images(const ClassicArgs& a, std::size_t train_size, std::size_t test_size) {
    Split<T> s = load_fashion_mnist<T>(a.data_dir);
    scale_by(s, 255.0);
    if (train_size < s.train.size()) {
        const std::vector<std::size_t> order = epoch_order(s.train.size(), a.seed, 1000);
        auto [x, y] = gather(s.train, order, 0, train_size);
        s.train = Dataset<T>{x.value(), y, s.train.classes};
    }
    s.test = first_rows(s.test, test_size);
    return s;
}

// ---- networks -------------------------------------------------------------------------------

struct NetSpec {
    std::vector<std::size_t> hidden;
    Activation act = Activation::relu;
    std::optional<HiddenNorm> norm;
    double init_std = 0;  // > 0: weights N(0, init_std^2) and biases 0 (the papers'); 0: PyTorch's
    std::uint64_t seed = 0;
};

// The MLP of make_mlp with the spec's initialisation. Runs that differ only in their
// normalisation start from the same weights: the Linears draw the same numbers in the same order.
template <class T>
std::shared_ptr<Sequential<T>> build(std::size_t inputs, std::size_t classes, const NetSpec& s) {
    MlpConfig c;
    c.hidden = s.hidden;
    c.act = s.act;
    c.norm = s.norm;
    c.seed = s.seed;
    auto model = make_mlp<T>(inputs, classes, c);
    if (s.init_std > 0) {
        Generator gen(s.seed + 7919);
        std::normal_distribution<double> normal(0.0, s.init_std);
        for (std::size_t i = 0; i < model->size(); ++i) {
            if (auto* lin = dynamic_cast<Linear<T>*>(&(*model)[i])) {
                for (auto& w : lin->weight.mutable_value()) {
                    w = static_cast<T>(normal(gen));
                }
                if (lin->bias) {
                    lin->bias->mutable_value().fill(T(0));
                }
            }
        }
    }
    return model;
}

// Copies parameters and buffers between two networks of the same layout (the composite and the
// fused batch norm hold the same state under the same names).
template <class T>
void copy_state(const Sequential<T>& from, Sequential<T>& to) {
    const auto src = from.named_parameters(), dst = to.named_parameters();
    for (std::size_t i = 0; i < src.size(); ++i) {
        Tensor<T>(dst[i].second).mutable_value() = src[i].second.value();
    }
    const auto sb = from.named_buffers(), db = to.named_buffers();
    for (std::size_t i = 0; i < sb.size(); ++i) {
        Tensor<T>(db[i].second).mutable_value() = sb[i].second.value();
    }
}

// ---- training, step by step -----------------------------------------------------------------

// Batches of a fixed size, reshuffled every epoch (epoch_order); the last incomplete batch of an
// epoch is dropped so that batch norm always sees `size` examples.
template <class T>
class Batches {
public:
    Batches(const Dataset<T>& d, std::size_t size, std::uint64_t seed) : d_(d), size_(size), seed_(seed) {
        order_ = epoch_order(d.size(), seed_, epoch_);
    }
    std::pair<Tensor<T>, std::vector<std::int64_t>> next() {
        if (pos_ + size_ > d_.size()) {
            order_ = epoch_order(d_.size(), seed_, ++epoch_);
            pos_ = 0;
        }
        pos_ += size_;
        return gather(d_, order_, pos_ - size_, pos_);
    }

private:
    const Dataset<T>& d_;
    std::size_t size_, pos_ = 0, epoch_ = 0;
    std::uint64_t seed_;
    std::vector<std::size_t> order_;
};

template <class T>
double train_step(Module<T>& m, Optimizer<T>& opt, const std::pair<Tensor<T>, std::vector<std::int64_t>>& batch) {
    opt.zero_grad();
    const Tensor<T> loss = cross_entropy(m(batch.first), batch.second);
    loss.backward();
    opt.step();
    return static_cast<double>(loss.item());
}

template <class T>
std::unique_ptr<Optimizer<T>> sgd(Module<T>& m, double lr) {
    return make_optimizer(m, OptimConfig{OptimizerKind::sgd, lr});
}

template <class T>
std::unique_ptr<Optimizer<T>> adam(Module<T>& m, double lr) {
    return make_optimizer(m, OptimConfig{OptimizerKind::adam, lr});
}

// A bar redrawn in place on a terminal; a plain line at every tenth otherwise; nothing with --quiet.
class Bar {
public:
    Bar(std::string label, std::size_t total, bool quiet)
        : label_(std::move(label)), total_(std::max<std::size_t>(total, 1)), quiet_(quiet), tty_(isatty(fileno(stdout)) != 0) {}
    void update(std::size_t done, const std::string& note = "") {
        if (quiet_) {
            return;
        }
        if (tty_) {
            const std::size_t width = 30, filled = width * done / total_;
            fmt::print("\r{} [{}{}] {}/{} {} ", label_, std::string(filled, '#'), std::string(width - filled, '.'), done,
                       total_, note);
            if (done == total_) {
                fmt::print("\n");
            }
            std::fflush(stdout);
        } else if (done == total_ || done * 10 / total_ != (done - 1) * 10 / total_) {
            fmt::print("{} {}/{} {}\n", label_, done, total_, note);
        }
    }

private:
    std::string label_;
    std::size_t total_;
    bool quiet_, tty_;
};

std::optional<HiddenNorm> batch_norm(const ClassicArgs& a) {
    return HiddenNorm{NormKind::batch, a.norm_impl == "composite" ? NormImpl::composite : NormImpl::fused};
}

template <class T>
void write_csv(const std::string& path, const std::string& text) {
    const auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) {
        std::filesystem::create_directories(parent);
    }
    tg::io::write_file_atomically(path, {text});
}

// What a run uses: the options given, the experiment's defaults for the others (smaller with
// --quick). One place, read by the checks and by the experiments.
struct Settings {
    std::size_t steps = 0, epochs = 0, batch = 0, probes = 0, train = 0, test = 0;
    double lr = 0, init_std = 0;
};

Settings settings(const ClassicArgs& a) {
    const bool q = a.quick;
    auto pick = [q](std::size_t given, std::size_t quick, std::size_t full) { return given ? given : q ? quick : full; };
    auto real = [](double given, double fallback) { return given > 0 ? given : fallback; };
    Settings s;
    if (a.name == "ioffe") {
        s = {pick(a.steps, 300, 30000), 0, pick(a.batch_size, 60, 60), pick(a.probes, 6, 60), pick(a.train_size, 2000, 60000),
             q ? 1000u : 10000u, real(a.lr, 0.5), real(a.init_std, 0.1)};
    } else if (a.name == "init-scale") {
        s = {0, pick(a.epochs, 2, 10), pick(a.batch_size, 50, 50), 0, pick(a.train_size, 200, 1000), q ? 200u : 1000u,
             real(a.lr, 1e-3), 0};
    } else if (a.name == "batch-size") {
        s = {0, pick(a.epochs, 2, 10), 0, 0, pick(a.train_size, 200, 1000), q ? 200u : 1000u, real(a.lr, 1e-3), 0};
    } else if (a.name == "smoothness") {
        s = {pick(a.steps, 100, 3000), 0, pick(a.batch_size, 128, 128), pick(a.probes, 4, 30), pick(a.train_size, 2000, 60000),
             q ? 500u : 10000u, real(a.lr, 0.1), 0};
    } else {  // hessian
        s = {pick(a.steps, 40, 1500), 0, pick(a.batch_size, 128, 128), pick(a.probes, 2, 10), pick(a.train_size, 1000, 60000),
             q ? 500u : 10000u, real(a.lr, 0.1), 0};
    }
    return s;
}

// The probe points: `count` steps spread evenly over [0, steps], 0 and steps included.
std::vector<std::size_t> probe_steps(std::size_t steps, std::size_t count) {
    std::vector<std::size_t> at;
    for (std::size_t i = 0; i <= count; ++i) {
        const std::size_t s = steps * i / count;
        if (at.empty() || at.back() != s) {
            at.push_back(s);
        }
    }
    return at;
}

// ---- 1. Ioffe and Szegedy 2015, Figure 1 ----------------------------------------------------

// The input of the last hidden layer's sigmoid, unit `unit`, over `data` taken as one batch: with
// batch norm, normalised by the statistics of those examples themselves (the population's, which
// the running averages only approach), and the running statistics left as they were.
template <class T>
std::vector<double> last_sigmoid_input(Sequential<T>& m, const Dataset<T>& data, std::size_t unit) {
    std::size_t last = 0;
    for (std::size_t i = 0; i < m.size(); ++i) {
        if (m[i].describe() == "Sigmoid()") {
            last = i;
        }
    }
    tg::NoGradGuard no_grad;
    KeepBuffers<T> keep(m);
    std::vector<std::size_t> order(data.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    Tensor<T> h = gather(data, order, 0, data.size()).first;
    for (std::size_t i = 0; i < last; ++i) {
        h = m[i](h);
    }
    const std::size_t width = h.shape()[1];
    std::vector<double> out;
    for (std::size_t r = 0; r < h.shape()[0]; ++r) {
        out.push_back(static_cast<double>(h.value().data()[r * width + unit]));
    }
    return out;
}

template <class T>
int ioffe(const ClassicArgs& a) {
    const Settings c = settings(a);
    const std::size_t steps = c.steps, batch = c.batch, probes = c.probes;
    const double lr = c.lr, init_std = c.init_std;
    const Split<T> d = load_images<T>(a, c.train, c.test);
    const std::size_t unit = 0;
    fmt::print("experiment ioffe: {} on {} ({} training, {} test images), 784-100-100-100-10 sigmoid, weights "
               "N(0, {}^2), plain SGD lr {}, batch {}, {} steps, seed {}; batch norm: {}\n",
               tg::dtype_name<T>(), a.data, d.train.size(), d.test.size(), init_std, lr, batch, steps, a.seed,
               a.norm_impl);
    struct Record {
        std::size_t step;
        double acc, p15, p50, p85;
    };
    const std::vector<std::string> labels{"without", "with"};
    std::vector<std::vector<Record>> records(2);
    const std::vector<std::size_t> at = probe_steps(steps, probes);
    for (std::size_t r = 0; r < 2; ++r) {
        NetSpec spec{{100, 100, 100}, Activation::sigmoid, r ? batch_norm(a) : std::nullopt, init_std, a.seed};
        auto model = build<T>(d.train.features(), d.train.classes, spec);
        auto opt = sgd(*model, lr);
        Batches<T> batches(d.train, batch, a.seed);
        Bar bar(fmt::format("{} batch norm", labels[r]), steps, a.quiet);
        const auto t0 = Clock::now();
        std::size_t next = 0;
        for (std::size_t s = 0; s <= steps; ++s) {
            if (next < at.size() && at[next] == s) {
                const auto p = percentiles(last_sigmoid_input(*model, d.test, unit), {15, 50, 85});
                records[r].push_back({s, accuracy(*model, d.test), p[0], p[1], p[2]});
                ++next;
            }
            if (s < steps) {
                train_step(*model, *opt, batches.next());
                bar.update(s + 1, fmt::format("test acc {:.4f}", records[r].back().acc));
            }
        }
        fmt::print("{} batch norm: {:.1f} s\n", labels[r], seconds_since(t0));
    }
    fmt::print("\n| step | test acc without BN | with BN | sigmoid input without BN: 15th / 50th / 85th percentile | "
               "with BN |\n|---|---|---|---|---|\n");
    for (std::size_t i = 0; i < at.size(); ++i) {
        if (i % std::max<std::size_t>(1, at.size() / 8) == 0 || i + 1 == at.size()) {
            const Record &x = records[0][i], &y = records[1][i];
            fmt::print("| {} | {:.4f} | {:.4f} | {:.2f} / {:.2f} / {:.2f} | {:.2f} / {:.2f} / {:.2f} |\n", x.step, x.acc,
                       y.acc, x.p15, x.p50, x.p85, y.p15, y.p50, y.p85);
        }
    }
    if (!a.log.empty() || !a.plot.empty()) {
        const std::string csv = a.log.empty() ? a.plot + ".csv" : a.log;
        std::string text = "run,step,test_acc,p15,p50,p85\n";
        for (std::size_t r = 0; r < 2; ++r) {
            for (const Record& x : records[r]) {
                text += fmt::format("{},{},{:.6f},{:.6f},{:.6f},{:.6f}\n", labels[r], x.step, x.acc, x.p15, x.p50, x.p85);
            }
        }
        write_csv<T>(csv, text);
        if (!a.plot.empty()) {
            // (a) test accuracy; (b), (c) the percentiles without and with batch norm, on one scale
            const std::string style = "set datafile separator ','\nset key bottom right\nset grid\nset xlabel 'training step'\n";
            double lo = 0, hi = 0;  // (b) and (c) on one scale, to compare the spreads
            for (const auto& run : records) {
                for (const Record& x : run) {
                    lo = std::min(lo, x.p15);
                    hi = std::max(hi, x.p85);
                }
            }
            auto percentiles_of = [&](const char* run, const char* title) {
                return fmt::format(
                    "set title '({}) last hidden layer, unit {}: sigmoid input, {} batch norm'\nset ylabel 'input to the "
                    "sigmoid'\nset key top right\nset yrange [{}:{}]\n"
                    "plot for [c=4:6] '{}' using 2:(strcol(1) eq '{}' ? column(c) : 1/0) with lines lw 2 "
                    "title (c==4 ? '15th percentile' : c==5 ? '50th' : '85th')\n",
                    title, unit, run, std::floor(lo), std::ceil(hi), csv, run);
            };
            draw_with_gnuplot(
                a.plot,
                style + "set multiplot layout 1,3\nset title '(a) test accuracy'\nset ylabel 'test accuracy'\n" +
                    fmt::format("plot '{0}' using 2:(strcol(1) eq 'without' ? $3 : 1/0) with lines lw 2 title 'without "
                                "batch norm', '{0}' using 2:(strcol(1) eq 'with' ? $3 : 1/0) with lines lw 2 title "
                                "'with batch norm'\n",
                                csv) +
                    "set autoscale y\n" + percentiles_of("without", "b") + percentiles_of("with", "c") + "unset multiplot\n",
                1500, 440);
            fmt::print("plot written to {}\n", a.plot);
        }
    }
    return 0;
}

// ---- 2. cs231n: weight-initialisation scale --------------------------------------------------

struct SweepResult {
    double best_train = 0, best_val = 0, final_loss = 0;
};

// Trains for `epochs` over `train` in batches, Adam; the best training and validation accuracy
// after any epoch, and the mean loss of the last epoch's batches.
template <class T>
SweepResult train_and_score(Sequential<T>& m, const Split<T>& d, std::size_t batch, std::size_t epochs, double lr,
                            std::uint64_t seed, std::vector<std::pair<double, double>>* curve = nullptr) {
    auto opt = adam(m, lr);
    SweepResult r;
    for (std::size_t e = 0; e < epochs; ++e) {
        EpochStats s = train_epoch(m, *opt, d.train, batch, seed, e);
        const double train_acc = accuracy(m, d.train), val = accuracy(m, d.test);
        r.best_train = std::max(r.best_train, train_acc);
        r.best_val = std::max(r.best_val, val);
        r.final_loss = s.train_loss;
        if (curve) {
            curve->push_back({train_acc, val});
        }
    }
    return r;
}

bool all_digits(const std::string& s) {
    return !s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "20": np.logspace(-4, 0, 20); "1e-3,0.01": those scales.
std::vector<double> scales_from(const std::string& spec) {
    std::vector<double> out;
    if (all_digits(spec)) {
        const std::size_t n = std::stoul(spec);
        for (std::size_t i = 0; i < n; ++i) {  // np.logspace(-4, 0, n)
            out.push_back(std::pow(10.0, n == 1 ? 0.0 : -4.0 + 4.0 * static_cast<double>(i) / static_cast<double>(n - 1)));
        }
        return out;
    }
    std::stringstream in(spec);
    for (std::string item; std::getline(in, item, ',');) {
        out.push_back(std::stod(item));
    }
    return out;
}

template <class T>
int init_scale(const ClassicArgs& a) {
    const Settings c = settings(a);
    const std::size_t epochs = c.epochs, batch = c.batch;
    const double lr = c.lr;
    const std::vector<double> scales = a.quick && a.scales == "20" ? scales_from("4") : scales_from(a.scales);
    const Split<T> d = load_images<T>(a, c.train, c.test);
    const std::vector<std::size_t> hidden(7, 50);
    fmt::print("experiment init-scale: {} on {} ({} training, {} validation images), 7 hidden ReLU layers of 50, "
               "weights N(0, scale^2), Adam lr {}, batch {}, {} epochs, {} scales, seed {}; batch norm: {}\n",
               tg::dtype_name<T>(), a.data, d.train.size(), d.test.size(), lr, batch, epochs, scales.size(), a.seed,
               a.norm_impl);
    std::vector<std::array<SweepResult, 2>> results;
    Bar bar("runs", 2 * scales.size(), a.quiet);
    for (std::size_t i = 0; i < scales.size(); ++i) {
        std::array<SweepResult, 2> pair;
        for (std::size_t r = 0; r < 2; ++r) {
            NetSpec spec{hidden, Activation::relu, r ? batch_norm(a) : std::nullopt, scales[i], a.seed};
            auto model = build<T>(d.train.features(), d.train.classes, spec);
            pair[r] = train_and_score(*model, d, batch, epochs, lr, a.seed);
            bar.update(2 * i + r + 1, fmt::format("scale {:.2e}", scales[i]));
        }
        results.push_back(pair);
    }
    fmt::print("\n| weight scale | best train acc without BN | with BN | best val acc without BN | with BN | final "
               "train loss without BN | with BN |\n|---|---|---|---|---|---|---|\n");
    std::string text = "scale,run,best_train_acc,best_val_acc,final_train_loss\n";
    for (std::size_t i = 0; i < scales.size(); ++i) {
        const auto& [x, y] = results[i];
        fmt::print("| {:.2e} | {:.3f} | {:.3f} | {:.3f} | {:.3f} | {:.4f} | {:.4f} |\n", scales[i], x.best_train, y.best_train,
                   x.best_val, y.best_val, x.final_loss, y.final_loss);
    }
    for (std::size_t r = 0; r < 2; ++r) {  // one run after the other: each a line in gnuplot
        for (std::size_t i = 0; i < scales.size(); ++i) {
            text += fmt::format("{:.6e},{},{:.6f},{:.6f},{:.6f}\n", scales[i], r ? "with" : "without", results[i][r].best_train,
                                results[i][r].best_val, results[i][r].final_loss);
        }
    }
    if (!a.log.empty() || !a.plot.empty()) {
        const std::string csv = a.log.empty() ? a.plot + ".csv" : a.log;
        write_csv<T>(csv, text);
        if (!a.plot.empty()) {
            auto panel = [&](int col, const char* title) {
                return fmt::format("set title '{1}'\nset ylabel '{1}'\nplot '{0}' using 1:(strcol(2) eq 'without' ? "
                                   "column({2}) : 1/0) with linespoints lw 2 title 'without batch norm', '{0}' using "
                                   "1:(strcol(2) eq 'with' ? column({2}) : 1/0) with linespoints lw 2 title 'with batch norm'\n",
                                   csv, title, col);
            };
            draw_with_gnuplot(a.plot,
                              "set datafile separator ','\nset logscale x\nset format x '10^{%L}'\nset grid\nset key "
                              "bottom right\nset xlabel 'weight initialisation scale'\nset multiplot layout 1,3\n" +
                                  panel(3, "best training accuracy") + panel(4, "best validation accuracy") +
                                  "set key top right\nset logscale y\n" + panel(5, "final training loss") +
                                  "unset multiplot\n",
                              1500, 440);
            fmt::print("plot written to {}\n", a.plot);
        }
    }
    return 0;
}

// ---- 3. cs231n: batch size -------------------------------------------------------------------

std::vector<std::size_t> sizes_from(const std::string& spec) {
    std::vector<std::size_t> out;
    std::stringstream in(spec);
    for (std::string item; std::getline(in, item, ',');) {
        if (!all_digits(item)) {
            throw tg::ValueError(fmt::format("'{}' is not a batch size", item));
        }
        out.push_back(std::stoul(item));
    }
    return out;
}

template <class T>
int batch_size(const ClassicArgs& a) {
    const Settings c = settings(a);
    const std::size_t epochs = c.epochs;
    const double lr = c.lr;
    const std::vector<std::size_t> sizes = sizes_from(a.batch_sizes);
    const Split<T> d = load_images<T>(a, c.train, c.test);
    const std::vector<std::size_t> hidden(5, 100);
    const std::size_t baseline_batch = sizes.size() > 1 ? sizes[1] : sizes[0];
    fmt::print("experiment batch-size: {} on {} ({} training, {} validation images), 5 hidden ReLU layers of 100, "
               "PyTorch's initialisation, Adam lr {}, {} epochs, seed {}; batch sizes {}, baseline without "
               "normalisation at batch {}; batch norm: {}\n",
               tg::dtype_name<T>(), a.data, d.train.size(), d.test.size(), lr, epochs, a.seed, a.batch_sizes,
               baseline_batch, a.norm_impl);
    struct RunSpec {
        std::string label;
        std::optional<HiddenNorm> norm;
        std::size_t batch;
    };
    std::vector<RunSpec> runs{{fmt::format("baseline (batch {})", baseline_batch), std::nullopt, baseline_batch}};
    for (std::size_t b : sizes) {
        runs.push_back({fmt::format("batch norm (batch {})", b), batch_norm(a), b});
    }
    for (std::size_t b : sizes) {
        runs.push_back({fmt::format("layer norm (batch {})", b),
                        HiddenNorm{NormKind::layer, a.norm_impl == "composite" ? NormImpl::composite : NormImpl::fused}, b});
    }
    std::vector<std::vector<std::pair<double, double>>> curves(runs.size());
    Bar bar("runs", runs.size(), a.quiet);
    for (std::size_t r = 0; r < runs.size(); ++r) {
        NetSpec spec{hidden, Activation::relu, runs[r].norm, 0, a.seed};
        auto model = build<T>(d.train.features(), d.train.classes, spec);
        train_and_score(*model, d, runs[r].batch, epochs, lr, a.seed, &curves[r]);
        bar.update(r + 1, runs[r].label);
    }
    fmt::print("\n| run | final train acc | final val acc | best val acc |\n|---|---|---|---|\n");
    std::string text = "run,epoch,train_acc,val_acc\n";
    std::array<std::pair<double, double>, 2> spread{{{1, 0}, {1, 0}}};  // min and max final val acc: BN, LN
    for (std::size_t r = 0; r < runs.size(); ++r) {
        double best = 0;
        for (std::size_t e = 0; e < curves[r].size(); ++e) {
            best = std::max(best, curves[r][e].second);
            text += fmt::format("{},{},{:.6f},{:.6f}\n", runs[r].label, e + 1, curves[r][e].first, curves[r][e].second);
        }
        fmt::print("| {} | {:.3f} | {:.3f} | {:.3f} |\n", runs[r].label, curves[r].back().first, curves[r].back().second, best);
        if (r > 0) {
            auto& s = spread[r <= sizes.size() ? 0 : 1];
            s.first = std::min(s.first, curves[r].back().second);
            s.second = std::max(s.second, curves[r].back().second);
        }
    }
    fmt::print("\nfinal validation accuracy across batch sizes {}: batch norm spans {:.3f} (from {:.3f} to {:.3f}), "
               "layer norm spans {:.3f} (from {:.3f} to {:.3f})\n",
               a.batch_sizes, spread[0].second - spread[0].first, spread[0].first, spread[0].second,
               spread[1].second - spread[1].first, spread[1].first, spread[1].second);
    if (!a.log.empty() || !a.plot.empty()) {
        const std::string csv = a.log.empty() ? a.plot + ".csv" : a.log;
        write_csv<T>(csv, text);
        if (!a.plot.empty()) {
            auto panel = [&](const char* kind, int col, const char* what) {
                std::string lines = fmt::format("'{0}' using 2:(strcol(1) eq '{1}' ? column({2}) : 1/0) with linespoints "
                                                "lw 2 dt 2 title '{1}'",
                                                csv, runs[0].label, col);
                for (std::size_t r = 1; r < runs.size(); ++r) {
                    if (runs[r].label.rfind(kind, 0) == 0) {
                        lines += fmt::format(", '{0}' using 2:(strcol(1) eq '{1}' ? column({2}) : 1/0) with linespoints "
                                             "lw 2 title '{1}'",
                                             csv, runs[r].label, col);
                    }
                }
                return fmt::format("set title '{}: {}'\nplot {}\n", kind, what, lines);
            };
            draw_with_gnuplot(a.plot,
                              "set datafile separator ','\nset grid\nset key bottom right\nset xlabel 'epoch'\nset "
                              "ylabel 'accuracy'\nset multiplot layout 2,2\n" +
                                  panel("batch norm", 3, "training accuracy") + panel("batch norm", 4, "validation accuracy") +
                                  panel("layer norm", 3, "training accuracy") + panel("layer norm", 4, "validation accuracy") +
                                  "unset multiplot\n",
                              1200, 800);
            fmt::print("plot written to {}\n", a.plot);
        }
    }
    return 0;
}

// ---- 4. Santurkar et al. 2018: the loss landscape along the gradient -------------------------

// The loss and gradient on one batch at the parameters' current values, in training mode (batch
// statistics), the running statistics left as they were.
template <class T>
LossAndGradient<T> on_batch(Sequential<T>& m, const std::pair<Tensor<T>, std::vector<std::int64_t>>& batch) {
    return [&m, &batch] {
        KeepBuffers<T> keep(m);
        const std::vector<Tensor<T>> params = m.parameters();
        const Tensor<T> loss = cross_entropy(m(batch.first), batch.second);
        std::vector<Array<T>> g;
        for (const auto& t : tg::grad<T>({loss}, params)) {
            g.push_back(t.value());
        }
        return std::make_pair(static_cast<double>(loss.item()), g);
    };
}

template <class T>
int smoothness(const ClassicArgs& a) {
    const Settings c = settings(a);
    const std::size_t steps = c.steps, batch = c.batch, probes = c.probes;
    const double lr = c.lr;
    const std::vector<double> etas{lr / 2, lr, 2 * lr, 4 * lr};
    const Split<T> d = load_images<T>(a, c.train, c.test);
    fmt::print("experiment smoothness: {} on {} ({} training images), 784-100-100-100-10 ReLU, PyTorch's "
               "initialisation, plain SGD lr {}, batch {}, {} steps, {} probes along -g with steps {} x lr; seed {}; "
               "batch norm: {}\n",
               tg::dtype_name<T>(), a.data, d.train.size(), lr, batch, steps, probes, "0.5, 1, 2, 4", a.seed, a.norm_impl);
    struct Record {
        std::size_t step;
        double loss, range, change, beta, acc;
    };
    const std::vector<std::string> labels{"without", "with"};
    std::vector<std::vector<Record>> records(2);
    const std::vector<std::size_t> at = probe_steps(steps, probes);
    for (std::size_t r = 0; r < 2; ++r) {
        NetSpec spec{{100, 100, 100}, Activation::relu, r ? batch_norm(a) : std::nullopt, 0, a.seed};
        auto model = build<T>(d.train.features(), d.train.classes, spec);
        auto opt = sgd(*model, lr);
        Batches<T> batches(d.train, batch, a.seed);
        Bar bar(fmt::format("{} batch norm", labels[r]), steps, a.quiet);
        std::size_t next = 0;
        for (std::size_t s = 0; s <= steps; ++s) {
            const auto b = batches.next();
            if (next < at.size() && at[next] == s) {
                const LandscapeProbe p = probe_landscape(model->parameters(), on_batch(*model, b), etas);
                records[r].push_back({s, on_batch(*model, b)().first, p.loss_range, p.gradient_change, p.beta_smoothness,
                                      accuracy(*model, d.test)});
                ++next;
            }
            if (s < steps) {
                train_step(*model, *opt, b);
                bar.update(s + 1);
            }
        }
    }
    fmt::print("\n| step | loss range without BN | with BN | gradient change without BN | with BN | beta-smoothness "
               "without BN | with BN |\n|---|---|---|---|---|---|---|\n");
    std::string text = "run,step,loss,loss_range,gradient_change,beta_smoothness,test_acc\n";
    for (std::size_t i = 0; i < at.size(); ++i) {
        const Record &x = records[0][i], &y = records[1][i];
        if (i % std::max<std::size_t>(1, at.size() / 8) == 0 || i + 1 == at.size()) {
            fmt::print("| {} | {:.4f} | {:.4f} | {:.3f} | {:.3f} | {:.2f} | {:.2f} |\n", x.step, x.range, y.range, x.change,
                       y.change, x.beta, y.beta);
        }
    }
    for (std::size_t r = 0; r < 2; ++r) {
        for (const Record& x : records[r]) {
            text += fmt::format("{},{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f}\n", labels[r], x.step, x.loss, x.range, x.change,
                                x.beta, x.acc);
        }
    }
    if (!a.log.empty() || !a.plot.empty()) {
        const std::string csv = a.log.empty() ? a.plot + ".csv" : a.log;
        write_csv<T>(csv, text);
        if (!a.plot.empty()) {
            auto panel = [&](int col, const char* title) {
                return fmt::format("set title '{1}'\nset ylabel '{1}'\nplot '{0}' using 2:(strcol(1) eq 'without' ? "
                                   "column({2}) : 1/0) with linespoints lw 2 title 'without batch norm', '{0}' using "
                                   "2:(strcol(1) eq 'with' ? column({2}) : 1/0) with linespoints lw 2 title 'with batch norm'\n",
                                   csv, title, col);
            };
            draw_with_gnuplot(a.plot,
                              "set datafile separator ','\nset grid\nset key top right\nset xlabel 'training "
                              "step'\nset logscale y\nset multiplot layout 1,3\n" +
                                  panel(4, "loss range along the gradient") +
                                  panel(5, "gradient change (predictiveness)") + panel(6, "effective beta-smoothness") +
                                  "unset multiplot\n",
                              1500, 440);
            fmt::print("plot written to {}\n", a.plot);
        }
    }
    return 0;
}

// ---- 5. the top Hessian eigenvalue over training ----------------------------------------------

template <class T>
int hessian(const ClassicArgs& a) {
    const Settings c = settings(a);
    const std::size_t steps = c.steps, batch = c.batch, probes = c.probes;
    const double lr = c.lr;
    const Split<T> d = load_images<T>(a, c.train, c.test);
    const std::size_t probe_size = std::min<std::size_t>(a.quick ? 128 : 512, d.train.size());
    fmt::print("experiment hessian: {} on {} ({} training images), 784-100-100-10 ReLU, PyTorch's initialisation, plain "
               "SGD lr {}, batch {}, {} steps; at {} points the top eigenvalue of the training loss on a fixed batch of "
               "{} (power iteration on Hessian-vector products, at most 100, relative tolerance 1e-6); seed {}\n",
               tg::dtype_name<T>(), a.data, d.train.size(), lr, batch, steps, probes + 1, probe_size, a.seed);
    std::vector<std::size_t> order(d.train.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    const auto probe_batch = gather(d.train, order, 0, probe_size);
    auto eigen = [&](Sequential<T>& m) {
        KeepBuffers<T> keep(m);
        const auto t0 = Clock::now();
        const Tensor<T> loss = cross_entropy(m(probe_batch.first), probe_batch.second);
        EigenEstimate e = top_hessian_eigenvalue(loss, m.parameters(), 100, 1e-6, a.seed);
        return std::make_pair(e, seconds_since(t0));
    };
    struct Record {
        std::size_t step;
        double without, composite, fused, products, seconds;
    };
    std::vector<Record> records;
    const std::vector<std::size_t> at = probe_steps(steps, probes);
    // without batch norm, and with the fused one trained; at each probe, the composite graph on a
    // copy of the fused run's weights, so that the two eigenvalues are of the same function
    NetSpec plain{{100, 100}, Activation::relu, std::nullopt, 0, a.seed};
    NetSpec fused = plain, composite = plain;
    fused.norm = HiddenNorm{NormKind::batch, NormImpl::fused};
    composite.norm = HiddenNorm{NormKind::batch, NormImpl::composite};
    auto m0 = build<T>(d.train.features(), d.train.classes, plain);
    auto m1 = build<T>(d.train.features(), d.train.classes, fused);
    auto mc = build<T>(d.train.features(), d.train.classes, composite);
    auto o0 = sgd(*m0, lr), o1 = sgd(*m1, lr);
    Batches<T> b0(d.train, batch, a.seed), b1(d.train, batch, a.seed);
    Bar bar("training both", steps, a.quiet);
    double step_seconds = 0;
    std::size_t next = 0;
    for (std::size_t s = 0; s <= steps; ++s) {
        if (next < at.size() && at[next] == s) {
            copy_state(*m1, *mc);
            const auto [e0, t0] = eigen(*m0);
            const auto [e1, t1] = eigen(*m1);
            const auto [ec, tc] = eigen(*mc);
            records.push_back({s, e0.value, ec.value, e1.value, double(e0.products + e1.products + ec.products) / 3,
                               (t0 + t1 + tc) / 3});
            ++next;
        }
        if (s < steps) {
            const auto t0 = Clock::now();
            train_step(*m0, *o0, b0.next());
            train_step(*m1, *o1, b1.next());
            step_seconds += seconds_since(t0) / 2;
            bar.update(s + 1, fmt::format("top eigenvalue {:.3g} / {:.3g}", records.back().without, records.back().fused));
        }
    }
    fmt::print("\n| step | top eigenvalue without BN | with BN, fused | with BN, composite | composite vs fused "
               "(relative) |\n|---|---|---|---|---|\n");
    double worst = 0, products = 0, seconds = 0;
    std::string text = "step,without,fused,composite,relative_difference,products,seconds\n";
    for (const Record& r : records) {
        const double rel = std::abs(r.composite - r.fused) / std::max(std::abs(r.fused), 1e-300);
        worst = std::max(worst, rel);
        products += r.products;
        seconds += r.seconds;
        fmt::print("| {} | {:.4f} | {:.6f} | {:.6f} | {:.1e} |\n", r.step, r.without, r.fused, r.composite, rel);
        text += fmt::format("{},{:.8g},{:.10g},{:.10g},{:.3e},{:.1f},{:.4f}\n", r.step, r.without, r.fused, r.composite, rel,
                            r.products, r.seconds);
    }
    const double per_step = steps ? step_seconds / static_cast<double>(steps) : 0;
    const double per_estimate = seconds / static_cast<double>(records.size());
    fmt::print("\ncomposite vs fused: largest relative difference of the top eigenvalue {:.1e}\n", worst);
    fmt::print("cost: an estimate took {:.0f} Hessian-vector products and {:.3f} s on average, {:.0f} training steps' "
               "worth ({:.2f} ms per step of batch {})\n",
               products / static_cast<double>(records.size()), per_estimate, per_step > 0 ? per_estimate / per_step : 0.0,
               1e3 * per_step, batch);
    if (!a.log.empty() || !a.plot.empty()) {
        const std::string csv = a.log.empty() ? a.plot + ".csv" : a.log;
        write_csv<T>(csv, text);
        if (!a.plot.empty()) {
            draw_with_gnuplot(a.plot,
                              fmt::format("set datafile separator ','\nset grid\nset key top right\nset logscale y\n"
                                          "set xlabel 'training step'\nset ylabel 'top Hessian eigenvalue'\nset title "
                                          "'Top eigenvalue of the training loss Hessian'\nplot '{0}' using 1:2 with "
                                          "linespoints lw 2 title 'without batch norm', '{0}' using 1:3 with linespoints "
                                          "lw 2 title 'with batch norm (fused)', '{0}' using 1:4 with points pt 6 ps 2 "
                                          "title 'with batch norm (composite, same weights)'\n",
                                          csv),
                              1000, 480);
            fmt::print("plot written to {}\n", a.plot);
        }
    }
    return 0;
}

// ---- options ----------------------------------------------------------------------------------

void check(const ClassicArgs& a) {
    auto refuse = [&](const std::string& what) { throw tg::ValueError(fmt::format("experiment {}: {}", a.name, what)); };
    auto given = [&](const char* option) {
        const CLI::Option* o = a.command ? a.command->get_option_no_throw(option) : nullptr;
        return o && o->count() > 0;
    };
    for (const auto& [option, value] : {std::pair<const char*, std::size_t>{"--steps", a.steps}, {"--epochs", a.epochs},
                                        {"--probes", a.probes}, {"--batch-size", a.batch_size}, {"--train-size", a.train_size}}) {
        if (given(option) && value == 0) {
            refuse(fmt::format("{} must be at least 1, got 0", option));
        }
    }
    if (given("--lr") && !(a.lr > 0 && std::isfinite(a.lr))) {
        refuse(fmt::format("--lr must be a positive number, got {}", a.lr));
    }
    if (given("--init-std") && !(a.init_std > 0 && std::isfinite(a.init_std))) {
        refuse(fmt::format("--init-std must be a positive number, got {}", a.init_std));
    }
    if (a.norm_impl != "composite" && a.norm_impl != "fused") {
        refuse(fmt::format("--norm-impl must be composite or fused, got '{}'", a.norm_impl));
    }
    if (!a.dtype.empty() && a.dtype != "f32" && a.dtype != "f64") {
        refuse(fmt::format("--dtype must be f32 or f64, got '{}'", a.dtype));
    }
    if (a.data != "fashion-mnist" && a.data != "mnist") {
        refuse(fmt::format("--data must be fashion-mnist or mnist (the same IDX files, from --data-dir), got '{}'", a.data));
    }
    if (a.data == "mnist" && !given("--data-dir")) {
        refuse("--data mnist needs --data-dir: the folder holding MNIST's four IDX files (train-images-idx3-ubyte and "
               "the others, gzipped or not); Debian packages only Fashion-MNIST");
    }
    if (a.threads < 0) {
        refuse(fmt::format("--threads must be 0 (OpenBLAS's default) or more, got {}", a.threads));
    }
    for (const std::string& plot : {a.plot}) {
        const std::string ext = std::filesystem::path(plot).extension().string();
        if (!plot.empty() && ext != ".svg" && ext != ".png") {
            refuse(fmt::format("--plot {} must end in .svg or .png", plot));
        }
    }
    const Settings s = settings(a);
    if (s.batch == 1) {
        refuse("--batch-size must be at least 2: batch norm over one example has no variance");
    }
    if (s.batch > s.train) {
        refuse(fmt::format("--batch-size {} is larger than the {} training examples; use at most {} (or a larger "
                           "--train-size)",
                           s.batch, s.train, s.train));
    }
    if (a.name == "init-scale") {
        std::vector<double> scales;
        try {
            scales = scales_from(a.scales);
        } catch (const std::exception&) {
            refuse(fmt::format("--scales must be a count (20: logspace(-4, 0, 20)) or a list of scales, got '{}'",
                               a.scales));
        }
        if (scales.empty()) {
            refuse("--scales names no scale; give a count or a list");
        }
        for (double v : scales) {
            if (!(v > 0) || !std::isfinite(v)) {
                refuse(fmt::format("every weight scale must be a positive number, got {}", v));
            }
        }
    }
    if (a.name == "batch-size") {
        std::vector<std::size_t> sizes;
        try {
            sizes = sizes_from(a.batch_sizes);
        } catch (const std::exception&) {
            refuse(fmt::format("--batch-sizes must be a list of sizes (5,10,50), got '{}'", a.batch_sizes));
        }
        if (sizes.empty()) {
            refuse("--batch-sizes names no size");
        }
        for (std::size_t b : sizes) {
            if (b < 2 || b > s.train || s.train % b == 1) {
                refuse(fmt::format("batch size {} does not fit {} training examples: each batch needs 2 examples or "
                                   "more (batch norm), the last one too",
                                   b, s.train));
            }
        }
    }
}

template <int (*F32)(const ClassicArgs&), int (*F64)(const ClassicArgs&)>
int run_with_dtype(const ClassicArgs& a, const char* default_dtype) {
    if (a.threads > 0) {
        tg::set_threads(a.threads);
    }
    const std::string dtype = a.dtype.empty() ? default_dtype : a.dtype;
    return dtype == "f64" ? F64(a) : F32(a);
}

void add_options(CLI::App* cmd, ClassicArgs& a, const char* dtype_note) {
    cmd->add_option("--data", a.data, "fashion-mnist (default) or mnist: IDX files from --data-dir");
    cmd->add_option("--data-dir", a.data_dir, "the folder of the IDX files (.gz or not)");
    cmd->add_option("--norm-impl", a.norm_impl, a.name == "hessian" ? "hessian always measures both implementations"
                                                                     : "composite or fused batch norm (fused)");
    cmd->add_option("--dtype", a.dtype, dtype_note);
    cmd->add_option("--seed", a.seed, "initial weights and batch order (0)");
    cmd->add_option("--threads", a.threads, "threads for OpenBLAS and the kernels (0: the default)");
    cmd->add_option("--lr", a.lr, "learning rate (the experiment's default)");
    cmd->add_option("--batch-size", a.batch_size, "examples per step (the experiment's default)");
    cmd->add_option("--train-size", a.train_size, "training examples used (the experiment's default)");
    cmd->add_option("--log", a.log, "CSV of every measurement");
    cmd->add_option("--plot", a.plot, "the figure, .svg or .png (gnuplot); its CSV beside it unless --log");
    cmd->add_flag("--quick", a.quick, "a CI-sized run: fewer examples, steps and points (seconds)");
    cmd->add_flag("--quiet", a.quiet, "no progress bar");
}

}  // namespace

std::vector<Command> classic_experiment_commands(CLI::App* experiment) {
    std::vector<Command> out;
    auto add = [&](const char* name, const char* help, const char* dtype_note, auto extra, int (*run)(const ClassicArgs&)) {
        auto args = std::make_shared<ClassicArgs>();
        args->name = name;
        CLI::App* cmd = experiment->add_subcommand(name, help);
        args->command = cmd;
        add_options(cmd, *args, dtype_note);
        extra(cmd, *args);
        out.push_back(Command{cmd, [args] { check(*args); }, [args, run] {
            check(*args);
            return run(*args);
        }});
    };
    auto steps = [](CLI::App* c, ClassicArgs& a) {
        c->add_option("--steps", a.steps, "training steps (the experiment's default)");
        c->add_option("--probes", a.probes, "how many times the measurements are taken, spread over the steps");
    };
    auto epochs = [](CLI::App* c, ClassicArgs& a) { c->add_option("--epochs", a.epochs, "epochs per run (10)"); };
    add("ioffe", "Ioffe and Szegedy 2015, Figure 1: sigmoid MLP with and without batch norm, plain SGD; test accuracy "
                 "and the 15th/50th/85th percentiles of a last-layer sigmoid's input over training",
        "f32 (default) or f64",
        [&](CLI::App* c, ClassicArgs& a) {
            steps(c, a);
            c->add_option("--init-std", a.init_std, "standard deviation of the Gaussian initial weights (0.1)");
        },
        [](const ClassicArgs& a) { return run_with_dtype<ioffe<float>, ioffe<double>>(a, "f32"); });
    add("init-scale", "cs231n's initialisation sweep: 7 hidden layers of 50, weights N(0, scale^2) for scales in "
                      "logspace(-4, 0), with and without batch norm",
        "f32 (default) or f64",
        [&](CLI::App* c, ClassicArgs& a) {
            epochs(c, a);
            c->add_option("--scales", a.scales, "a count (20: logspace(-4, 0, 20)) or a list of scales");
        },
        [](const ClassicArgs& a) { return run_with_dtype<init_scale<float>, init_scale<double>>(a, "f32"); });
    add("batch-size", "cs231n's batch-size sweep: batch norm and layer norm at several batch sizes against a baseline "
                      "without normalisation",
        "f32 (default) or f64",
        [&](CLI::App* c, ClassicArgs& a) {
            epochs(c, a);
            c->add_option("--batch-sizes", a.batch_sizes, "the batch sizes (5,10,50); the baseline uses the second");
        },
        [](const ClassicArgs& a) { return run_with_dtype<batch_size<float>, batch_size<double>>(a, "f32"); });
    add("smoothness", "Santurkar et al. 2018: loss range, gradient change and effective beta-smoothness along the "
                      "gradient during training, with and without batch norm",
        "f32 (default) or f64", steps,
        [](const ClassicArgs& a) { return run_with_dtype<smoothness<float>, smoothness<double>>(a, "f32"); });
    add("hessian", "the top eigenvalue of the training loss's Hessian over training (power iteration on exact "
                   "Hessian-vector products), without batch norm and with it, fused and composite",
        "f64 (default) or f32", steps,
        [](const ClassicArgs& a) { return run_with_dtype<hessian<float>, hessian<double>>(a, "f64"); });
    return out;
}

}  // namespace tgcli
