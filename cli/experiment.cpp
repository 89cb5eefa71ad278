// `tapegrad experiment bn | norm`: the same MLP trained three times, on the same initial weights and
// batches: without batch norm, with the composite and with the fused one (bn); without
// normalisation, with batch norm and with layer norm, both fused (norm).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cli/classics.hpp"
#include "cli/plot.hpp"
#include "cli/train.hpp"

namespace tgcli {

using namespace tg::nn;

namespace {

// How far two runs of the same network drifted apart: the largest relative difference of any
// parameter (and which), the same without the biases of Linears that feed batch norm (batch norm
// removes any shift, so their gradient is zero but for rounding, which Adam scales up to steps of
// about lr: they wander without changing the output), and how many test predictions agree.
struct Drift {
    double all = 0;
    std::string where;
    double effective = 0;
    double same_predictions = 0;
};

template <class T>
Drift drift(Sequential<T>& a, Sequential<T>& b, const Dataset<T>& test) {
    Drift d;
    const auto pa = a.named_parameters();
    const auto pb = b.named_parameters();
    for (std::size_t i = 0; i < pa.size(); ++i) {
        const auto& x = pa[i].second.value();
        const auto& y = pb[i].second.value();
        double num = 0, den = 0;
        for (std::size_t k = 0; k < x.size(); ++k) {
            num = std::max(num, std::abs(static_cast<double>(x.data()[k]) - static_cast<double>(y.data()[k])));
            den = std::max(den, std::abs(static_cast<double>(y.data()[k])));
        }
        const double rel = den > 0 ? num / den : num;
        if (rel > d.all) {
            d.all = rel;
            d.where = pa[i].first;
        }
        const std::string& name = pa[i].first;
        const std::size_t layer = std::stoul(name.substr(0, name.find('.')));
        const bool feeds_bn = name.size() > 5 && name.substr(name.size() - 5) == ".bias" && layer + 1 < a.size() &&
                              a[layer + 1].describe().rfind("BatchNorm", 0) == 0;
        if (!feeds_bn) {
            d.effective = std::max(d.effective, rel);
        }
    }
    tg::NoGradGuard no_grad;
    a.eval();
    b.eval();
    std::vector<std::size_t> order(test.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::size_t same = 0;
    for (std::size_t begin = 0; begin < test.size(); begin += 1000) {
        const std::size_t end = std::min(test.size(), begin + 1000);
        auto [x, y] = gather(test, order, begin, end);
        const tg::Array<T> la = a(x).value(), lb = b(x).value();
        const std::size_t c = la.shape()[1];
        for (std::size_t r = 0; r < end - begin; ++r) {
            const T* ra = la.data() + r * c;
            const T* rb = lb.data() + r * c;
            same += std::max_element(ra, ra + c) - ra == std::max_element(rb, rb + c) - rb ? 1 : 0;
        }
    }
    a.train();
    b.train();
    d.same_predictions = test.size() ? static_cast<double>(same) / static_cast<double>(test.size()) : 1.0;
    return d;
}

// One run of an experiment: its name in the tables and the normalisation it trains with.
struct Run {
    std::string label;
    std::optional<HiddenNorm> norm;
};

// The runs in turn, epoch by epoch; `same_function`: the last two runs compute the same function
// (composite and fused), so their weights are compared after every epoch.
template <class T>
int experiment(const TrainArgs& a, const std::string& name, const std::string& column, const std::vector<Run>& runs,
               bool same_function) {
    if (a.threads > 0) {
        tg::set_threads(a.threads);
    }
    Split<T> d = load_data<T>(a);
    std::vector<std::vector<EpochStats>> all(runs.size());
    std::vector<std::shared_ptr<Sequential<T>>> models;
    std::vector<Drift> drift_per_epoch;
    std::vector<std::unique_ptr<Optimizer<T>>> opts;
    for (std::size_t r = 0; r < runs.size(); ++r) {
        models.push_back(make_mlp<T>(d.train.features(), d.train.classes, mlp_config(a, runs[r].norm)));
        opts.push_back(make_optimizer(*models[r], optim_config(a)));
    }
    fmt::print("experiment {}: {} on {}, hidden {}, {}, {} epochs, seed {}; the same initial weights and batches for "
               "all three runs\n", name, tg::dtype_name<T>(), a.data, a.hidden, a.optim, a.epochs, a.seed);
    // Epoch by epoch, the runs in turn, so that the composite and fused weights can be compared
    // after every epoch.
    for (std::size_t e = 0; e < a.epochs; ++e) {
        for (std::size_t r = 0; r < runs.size(); ++r) {
            EpochStats s = train_epoch(*models[r], *opts[r], d.train, a.batch_size, a.seed, e, {});
            s.test_acc = accuracy(*models[r], d.test);
            all[r].push_back(s);
            fmt::print("epoch {:>3}  {} {:<9}  train loss {:.4f}  test acc {:.4f}  {:.2f} s\n", s.epoch, name,
                       runs[r].label, s.train_loss, s.test_acc, s.seconds);
        }
        if (same_function) {
            drift_per_epoch.push_back(drift(*models[1], *models[2], d.test));
        }
    }
    fmt::print("\n| {} | final test accuracy | best test accuracy | seconds per epoch |\n|---|---|---|---|\n", column);
    for (std::size_t r = 0; r < runs.size(); ++r) {
        double secs = 0, best = 0;
        for (const auto& s : all[r]) {
            secs += s.seconds;
            best = std::max(best, s.test_acc);
        }
        fmt::print("| {} | {:.4f} | {:.4f} | {:.2f} |\n", runs[r].label, all[r].empty() ? 0.0 : all[r].back().test_acc, best,
                   all[r].empty() ? 0.0 : secs / static_cast<double>(all[r].size()));
    }
    if (!drift_per_epoch.empty()) {
        fmt::print("\nComposite vs fused runs (the same function, so they differ by rounding alone):\n");
        fmt::print("| after epoch | largest relative weight difference | where | without biases that feed batch norm "
                   "| same test predictions |\n|---|---|---|---|---|\n");
        for (std::size_t e = 0; e < drift_per_epoch.size(); ++e) {
            if (e == 0 || e + 1 == drift_per_epoch.size()) {
                const Drift& x = drift_per_epoch[e];
                fmt::print("| {} | {:.2e} | {} | {:.2e} | {:.2f}% |\n", e + 1, x.all, x.where, x.effective,
                           100 * x.same_predictions);
            }
        }
    }
    if (!a.log.empty() || !a.plot.empty()) {
        const std::string base = a.log.empty() ? a.plot : a.log;
        std::vector<std::string> files;
        for (std::size_t r = 0; r < runs.size(); ++r) {
            files.push_back(fmt::format("{}.{}.csv", base, runs[r].label));
            write_log(files.back(), all[r], runs[r].label);
        }
        if (!a.plot.empty()) {
            std::vector<std::string> titles;
            for (const Run& run : runs) {
                titles.push_back(!run.norm ? "no " + column : name == "norm" ? run.label + " norm" : run.label);
            }
            plot_experiment(a.plot, files, titles);
            fmt::print("plot written to {}\n", a.plot);
        }
    }
    return 0;
}

template <class T>
int experiment_bn(const TrainArgs& a) {
    return experiment<T>(a, "bn", "batch norm",
                         {{"none", std::nullopt},
                          {"composite", HiddenNorm{NormKind::batch, NormImpl::composite}},
                          {"fused", HiddenNorm{NormKind::batch, NormImpl::fused}}},
                         true);
}

template <class T>
int experiment_norm(const TrainArgs& a) {
    return experiment<T>(a, "norm", "normalisation",
                         {{"none", std::nullopt},
                          {"batch", HiddenNorm{NormKind::batch, NormImpl::fused}},
                          {"layer", HiddenNorm{NormKind::layer, NormImpl::fused}}},
                         false);
}

}  // namespace

Command experiment_command(CLI::App& app) {
    auto* exp = app.add_subcommand("experiment", "experiments that compare training runs");
    exp->require_subcommand(1);
    auto* bn = exp->add_subcommand("bn", "train the same MLP without batch norm, with the composite and with the "
                                         "fused one, on the same seed and batches");
    auto* norm = exp->add_subcommand("norm", "train the same MLP without normalisation, with batch norm and with "
                                             "layer norm (both fused), on the same seed and batches");
    auto bn_args = std::make_shared<TrainArgs>();
    auto norm_args = std::make_shared<TrainArgs>();
    add_train_options(bn, *bn_args, true);
    add_train_options(norm, *norm_args, true);
    // the classic experiments (cli/classics.cpp), each with options of its own
    auto classics = std::make_shared<std::vector<Command>>(classic_experiment_commands(exp));
    auto parsed_classic = [classics]() -> const Command* {
        for (const Command& c : *classics) {
            if (c.cli->parsed()) {
                return &c;
            }
        }
        return nullptr;
    };
    auto chosen = [bn, bn_args, norm_args] { return bn->parsed() ? bn_args : norm_args; };
    return Command{exp,
                   [chosen, parsed_classic] {
                       if (const Command* c = parsed_classic()) {
                           c->check();
                       } else {
                           check_train_args(*chosen());
                       }
                   },
                   [chosen, bn, parsed_classic] {
                       if (const Command* c = parsed_classic()) {
                           return c->run();
                       }
                       return bn->parsed() ? with_anomaly_mode(*chosen(), experiment_bn<float>, experiment_bn<double>)
                                           : with_anomaly_mode(*chosen(), experiment_norm<float>, experiment_norm<double>);
                   }};
}

}  // namespace tgcli
