// tapegrad against libtorch, case by case, in one process: the median time of each side and
// their ratio (tapegrad / libtorch), as a Markdown table (bench/run.sh writes bench/RESULTS.md).
//
//   tapegrad_bench [--out FILE] [--quick] [--filter TEXT]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <random>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "bench/torch_side.hpp"
#include "tapegrad.hpp"

namespace {

using bench::Run;
using tg::Array;
using tg::Tensor;

double seconds_of(const Run& run) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> t) {
    std::sort(t.begin(), t.end());
    return t.empty() ? 0.0 : t[t.size() / 2];
}

// Median seconds of one repetition of each side. The two sides are timed in alternating bursts of
// about 20 ms (the first run of each burst, which finds the other side's data in cache, is not
// counted), so that both see the same load from whatever else the machine is doing: on a shared
// machine that load changes over seconds, and timing one side after the other moves their ratio
// by more than the differences being measured. Runs for at least min_seconds per side and at
// least 5 timed runs each.
std::pair<double, double> paired_medians(const Run& ours, const Run& theirs, double min_seconds) {
    const double once = std::max(seconds_of(ours), theirs ? seconds_of(theirs) : 0.0);  // also warms up
    const int burst = static_cast<int>(std::clamp(0.02 / std::max(once, 1e-9), 2.0, 200.0));
    std::vector<double> a, b;
    double spent = 0;
    while (a.size() < 5 || (spent < min_seconds && a.size() < 4000)) {
        for (const auto& [run, times] : {std::pair{&ours, &a}, std::pair{&theirs, &b}}) {
            if (!*run) {
                continue;
            }
            seconds_of(*run);
            for (int i = 0; i < burst; ++i) {
                times->push_back(seconds_of(*run));
                if (times == &a) {
                    spent += times->back();
                }
            }
        }
    }
    return {median(a), median(b)};
}

std::string human(double s) {
    return s < 1e-3 ? fmt::format("{:.1f} us", s * 1e6) : s < 1 ? fmt::format("{:.2f} ms", s * 1e3) : fmt::format("{:.2f} s", s);
}

template <class T>
Array<T> randn(const tg::Shape& shape, unsigned seed, double mean = 0, double sd = 1) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> dist(mean, sd);
    Array<T> a = tg::empty<T>(shape);
    for (auto& v : a) v = static_cast<T>(dist(gen));
    return a;
}

template <class T>
Run tg_batchnorm(std::size_t n, std::size_t d, bool composite) {
    tg::nn::BatchNormOptions o;
    o.impl = composite ? tg::nn::BatchNormImpl::composite : tg::nn::BatchNormImpl::fused;
    auto bn = std::make_shared<tg::nn::BatchNorm1d<T>>(d, o);
    auto x = std::make_shared<Tensor<T>>(randn<T>({n, d}, 1, 1, 2), true);
    auto dy = std::make_shared<Tensor<T>>(randn<T>({n, d}, 2));  // as libtorch's side: a tensor, not copied
    return [bn, x, dy] {
        x->zero_grad();
        bn->zero_grad();
        (*bn)(*x).backward(*dy);
    };
}

// LayerNorm(d) (groups = 0) or GroupNorm(groups, d), fused, on (n, d).
template <class T>
Run tg_sample_norm(std::size_t n, std::size_t d, std::size_t groups) {
    std::shared_ptr<tg::nn::Module<T>> m;
    if (groups == 0) {
        m = std::make_shared<tg::nn::LayerNorm<T>>(tg::Shape{d});
    } else {
        m = std::make_shared<tg::nn::GroupNorm<T>>(groups, d);
    }
    auto x = std::make_shared<Tensor<T>>(randn<T>({n, d}, 1, 1, 2), true);
    auto dy = std::make_shared<Tensor<T>>(randn<T>({n, d}, 2));
    return [m, x, dy] {
        x->zero_grad();
        m->zero_grad();
        (*m)(*x).backward(*dy);
    };
}

Run tg_chain(int length) {
    auto x = std::make_shared<Tensor<float>>(Tensor<float>::ones({1}, true));
    return [x, length] {
        x->zero_grad();
        Tensor<float> y = *x;
        for (int i = 0; i < length; ++i) {
            y = y + 1e-6;
        }
        y.backward(Array<float>(xt::ones<float>({1})));
    };
}

Run tg_matmul(std::size_t m, std::size_t k, std::size_t n) {
    auto a = std::make_shared<Tensor<float>>(randn<float>({m, k}, 3));
    auto b = std::make_shared<Tensor<float>>(randn<float>({k, n}, 4));
    return [a, b] { tg::matmul(*a, *b); };
}

Run tg_mlp_step(std::size_t batch) {
    tg::nn::MlpConfig m;
    m.norm = tg::nn::HiddenNorm{tg::nn::NormKind::batch, tg::nn::NormImpl::fused};
    auto model = tg::nn::make_mlp<float>(784, 10, m);
    std::shared_ptr<tg::nn::Optimizer<float>> opt = tg::nn::make_optimizer(*model, {tg::nn::OptimizerKind::adam, 1e-3});
    std::mt19937_64 gen(5);
    auto x = std::make_shared<Tensor<float>>(Array<float>(tg::empty<float>({batch, std::size_t{784}})));
    for (auto& v : x->mutable_value()) v = static_cast<float>(std::uniform_real_distribution<double>(0, 1)(gen));
    auto y = std::make_shared<std::vector<std::int64_t>>(batch);
    for (auto& v : *y) v = static_cast<std::int64_t>(gen() % 10);
    return [model, opt, x, y] {
        opt->zero_grad();
        tg::nn::cross_entropy((*model)(*x), *y).backward();
        opt->step();
    };
}

// micrograd's demo network and data (bench/torch_side.hpp): moons from tapegrad's generator,
// weights uniform in [-1, 1], biases 0.
bench::MicrogradCase micrograd_case() {
    bench::MicrogradCase c;
    const tg::nn::Dataset<double> d = tg::nn::two_moons<double>(100, 1, 0.1);
    c.x.assign(d.x.begin(), d.x.end());
    for (std::int64_t label : d.y) c.y.push_back(label == 1 ? 1.0 : -1.0);
    std::mt19937_64 gen(2);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    for (std::size_t l = 0; l + 1 < c.sizes.size(); ++l) {
        c.w.emplace_back(c.sizes[l] * c.sizes[l + 1]);
        for (auto& v : c.w.back()) v = u(gen);
    }
    return c;
}

// One SGD step of the demo built from one-element tensors, op for op as micrograd builds it:
// b + w0*x0 + w1*x1 + ... per neuron, relu on the hidden layers, relu(1 + score * -y) per point.
Run tg_micrograd_scalar(const bench::MicrogradCase& c) {
    struct Net {
        std::vector<std::vector<std::vector<Tensor<double>>>> w;  // layer, neuron, input
        std::vector<std::vector<Tensor<double>>> b;
        std::vector<Tensor<double>> params;
        std::vector<std::vector<Tensor<double>>> x;
        std::vector<double> y;
        double alpha = 0;
        int step = 0;
    };
    auto net = std::make_shared<Net>();
    const std::size_t layers = c.sizes.size() - 1;
    for (std::size_t l = 0; l < layers; ++l) {
        const std::size_t in = c.sizes[l], out = c.sizes[l + 1];
        net->w.emplace_back(out);
        net->b.emplace_back();
        for (std::size_t j = 0; j < out; ++j) {
            for (std::size_t i = 0; i < in; ++i) {
                net->w[l][j].push_back(Tensor<double>::scalar(c.w[l][i * out + j], true));
                net->params.push_back(net->w[l][j].back());
            }
            net->b[l].push_back(Tensor<double>::scalar(0.0, true));
            net->params.push_back(net->b[l].back());
        }
    }
    for (std::size_t s = 0; s < c.y.size(); ++s) {
        net->x.push_back({Tensor<double>::scalar(c.x[2 * s]), Tensor<double>::scalar(c.x[2 * s + 1])});
    }
    net->y = c.y;
    net->alpha = c.alpha;
    return [net, layers] {
        const std::size_t n = net->y.size();
        Tensor<double> data_loss = Tensor<double>::none();
        for (std::size_t s = 0; s < n; ++s) {
            std::vector<Tensor<double>> act = net->x[s];
            for (std::size_t l = 0; l < layers; ++l) {
                std::vector<Tensor<double>> next;
                next.reserve(net->w[l].size());
                for (std::size_t j = 0; j < net->w[l].size(); ++j) {
                    Tensor<double> a = net->b[l][j];
                    for (std::size_t i = 0; i < act.size(); ++i) {
                        a = a + net->w[l][j][i] * act[i];
                    }
                    next.push_back(l + 1 < layers ? tg::relu(a) : a);
                }
                act = std::move(next);
            }
            Tensor<double> loss = tg::relu(1.0 + act[0] * -net->y[s]);
            data_loss = data_loss.defined() ? data_loss + loss : loss;
        }
        data_loss = data_loss * (1.0 / static_cast<double>(n));
        Tensor<double> reg = Tensor<double>::none();
        for (const auto& p : net->params) {
            reg = reg.defined() ? reg + p * p : p * p;
        }
        Tensor<double> total = data_loss + net->alpha * reg;
        for (auto& p : net->params) p.zero_grad();
        total.backward();
        const double lr = 1.0 - 0.9 * (net->step++ % 100) / 100.0;
        for (auto& p : net->params) p.mutable_value()() -= lr * p.grad()();
    };
}

// The same step on (100, 2) inputs and weight matrices.
Run tg_micrograd_batched(const bench::MicrogradCase& c) {
    struct Net {
        std::vector<Tensor<double>> w, b;
        Tensor<double> x, y;
        double alpha = 0;
        int step = 0;
    };
    auto net = std::make_shared<Net>();
    const std::size_t layers = c.sizes.size() - 1;
    for (std::size_t l = 0; l < layers; ++l) {
        Array<double> w = xt::adapt(c.w[l], std::vector<std::size_t>{c.sizes[l], c.sizes[l + 1]});
        net->w.emplace_back(w, true);
        net->b.push_back(Tensor<double>::zeros({c.sizes[l + 1]}, true));
    }
    const std::size_t n = c.y.size();
    net->x = Tensor<double>(Array<double>(xt::adapt(c.x, std::vector<std::size_t>{n, 2})));
    net->y = Tensor<double>(Array<double>(xt::adapt(c.y, std::vector<std::size_t>{n, 1})));
    net->alpha = c.alpha;
    return [net, layers] {
        Tensor<double> h = net->x;
        for (std::size_t l = 0; l < layers; ++l) {
            h = tg::matmul(h, net->w[l]) + net->b[l];
            if (l + 1 < layers) h = tg::relu(h);
        }
        Tensor<double> data_loss = tg::mean(tg::relu(1.0 - net->y * h));
        Tensor<double> reg = tg::sum(net->w[0] * net->w[0]) + tg::sum(net->b[0] * net->b[0]);
        for (std::size_t l = 1; l < layers; ++l) {
            reg = reg + tg::sum(net->w[l] * net->w[l]) + tg::sum(net->b[l] * net->b[l]);
        }
        Tensor<double> total = data_loss + net->alpha * reg;
        for (std::size_t l = 0; l < layers; ++l) {
            net->w[l].zero_grad();
            net->b[l].zero_grad();
        }
        total.backward();
        const double lr = 1.0 - 0.9 * (net->step++ % 100) / 100.0;
        for (std::size_t l = 0; l < layers; ++l) {
            net->w[l].mutable_value() -= lr * net->w[l].grad();
            net->b[l].mutable_value() -= lr * net->b[l].grad();
        }
    };
}

// tg::gradcheck on the 4 x 3 batch-norm case (composite, training), as a learner runs it.
Run tg_gradcheck_bn() {
    auto x = std::make_shared<Tensor<double>>(randn<double>({4, 3}, 1, 1, 2), true);
    auto gamma = std::make_shared<Tensor<double>>(randn<double>({3}, 2, 1, 0.5), true);
    auto beta = std::make_shared<Tensor<double>>(randn<double>({3}, 3), true);
    return [x, gamma, beta] {
        const tg::GradcheckResult r = tg::gradcheck(
            [](const std::vector<Tensor<double>>& in) {
                return tg::batchnorm_composite<double>(in[0], in[1], in[2], tg::Axes{0}, 1e-5).y;
            },
            {*x, *gamma, *beta});
        if (!r.ok) std::abort();
    };
}

// Seconds per step of bench/micrograd_anchor.py (pure Python, micrograd's design) on this machine.
double python_anchor_seconds(int steps) {
    const std::string cmd = fmt::format("/usr/bin/python3 {}/bench/micrograd_anchor.py --steps {}", TAPEGRAD_SOURCE_DIR, steps);
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return 0;
    char line[256] = {0};
    const bool read = std::fgets(line, sizeof line, p) != nullptr;
    const int status = pclose(p);
    return read && status == 0 ? std::atof(line) : 0.0;
}

struct Row {
    std::string name;
    double tg = 0, torch = 0;
};

}  // namespace

int main(int argc, char** argv) {
    tg::ensure_fast_blas(argv);
    tg::reuse_freed_memory();
    std::string out_path, filter;
    bool quick = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--out" && i + 1 < argc) out_path = argv[++i];
        else if (a == "--filter" && i + 1 < argc) filter = argv[++i];
        else if (a == "--quick") quick = true;
        else {
            std::fprintf(stderr, "tapegrad_bench: unknown argument %s; use --out FILE, --filter TEXT, --quick\n", a.c_str());
            return 2;
        }
    }
    const double min_seconds = quick ? 0.05 : 0.5;
    std::vector<Row> rows;
    // Cases are built only when they run: make_ours and make_theirs return the timed function.
    auto measure = [&](const std::string& name, int threads, const std::function<Run()>& make_ours,
                       const std::function<Run()>& make_theirs) {
        if (!filter.empty() && name.find(filter) == std::string::npos) return;
        tg::set_threads(threads);
        bench::TorchSide::set_threads(threads);
        const Run ours = make_ours();
        const Run theirs = make_theirs();
        const auto [t_ours, t_theirs] = paired_medians(ours, theirs, min_seconds);
        Row r{name, t_ours, t_theirs};
        fmt::print(stderr, "{:<46} {:>10} {:>10} {}\n", r.name, human(r.tg), r.torch > 0 ? human(r.torch) : "-",
                   r.torch > 0 ? fmt::format("{:.2f}", r.tg / r.torch) : "");
        rows.push_back(r);
    };

    const std::vector<std::pair<std::size_t, std::size_t>> shapes{{256, 256}, {1024, 1024}, {4096, 1024}, {65536, 64}};
    for (bool composite : {false, true}) {
        for (bool f64 : {false, true}) {
            for (int threads : {1, 2}) {
                for (const auto& [n, d] : shapes) {
                    const std::string name = fmt::format("batch norm {} fwd+bwd {} {}x{}, {} thread{}",
                                                         composite ? "composite" : "fused", f64 ? "f64" : "f32", n, d,
                                                         threads, threads > 1 ? "s" : "");
                    measure(
                        name, threads,
                        [=] { return f64 ? tg_batchnorm<double>(n, d, composite) : tg_batchnorm<float>(n, d, composite); },
                        [=] { return bench::TorchSide::batchnorm(static_cast<long>(n), static_cast<long>(d), f64, composite); });
                }
            }
        }
    }
    for (std::size_t groups : {std::size_t{0}, std::size_t{32}}) {
        for (bool f64 : {false, true}) {
            for (const auto& [n, d] : shapes) {
                if (groups > d) continue;
                const std::string name = fmt::format("{} fused fwd+bwd {} {}x{}, 1 thread",
                                                     groups ? "group norm (32 groups)" : "layer norm", f64 ? "f64" : "f32", n, d);
                measure(
                    name, 1, [=] { return f64 ? tg_sample_norm<double>(n, d, groups) : tg_sample_norm<float>(n, d, groups); },
                    [=] { return bench::TorchSide::sample_norm(static_cast<long>(n), static_cast<long>(d), static_cast<long>(groups), f64); });
            }
        }
    }
    measure("chain of 10,000 one-element adds, fwd+bwd", 1, [] { return tg_chain(10000); },
            [] { return bench::TorchSide::chain(10000); });
    measure("matmul f32 256x784 @ 784x256, 1 thread", 1, [] { return tg_matmul(256, 784, 256); },
            [] { return bench::TorchSide::matmul(256, 784, 256); });
    measure("matmul f32 1024^3, 1 thread", 1, [] { return tg_matmul(1024, 1024, 1024); },
            [] { return bench::TorchSide::matmul(1024, 1024, 1024); });
    measure("matmul f32 1024^3, 2 threads", 2, [] { return tg_matmul(1024, 1024, 1024); },
            [] { return bench::TorchSide::matmul(1024, 1024, 1024); });
    measure("MLP step 784-256-128-10 BN batch 256, 1 thread", 1, [] { return tg_mlp_step(256); },
            [] { return bench::TorchSide::mlp_step(256); });
    const bench::MicrogradCase demo = micrograd_case();
    measure("micrograd demo step, scalars (about 65,000 ops)", 1, [&] { return tg_micrograd_scalar(demo); },
            [&] { return bench::TorchSide::micrograd(demo, true); });
    measure("micrograd demo step, batched", 1, [&] { return tg_micrograd_batched(demo); },
            [&] { return bench::TorchSide::micrograd(demo, false); });
    measure("gradcheck, batch norm 4x3 composite", 1, [] { return tg_gradcheck_bn(); }, [] { return Run(); });
    const std::string anchor_name = "micrograd demo step, scalars, against pure Python";
    if (filter.empty() || anchor_name.find(filter) != std::string::npos) {
        tg::set_threads(1);
        const Run ours = tg_micrograd_scalar(demo);
        const double t_ours = paired_medians(ours, Run(), min_seconds).first;
        const double t_python = python_anchor_seconds(quick ? 1 : 3);
        rows.push_back(Row{anchor_name, t_ours, t_python});
        fmt::print(stderr, "{:<46} {:>10} {:>10} {}\n", anchor_name, human(t_ours), t_python > 0 ? human(t_python) : "-",
                   t_python > 0 ? fmt::format("{:.3f}", t_ours / t_python) : "");
    }

    std::string md = "| case | tapegrad | libtorch | ratio |\n|---|---|---|---|\n";
    for (const auto& r : rows) {
        md += fmt::format("| {} | {} | {} | {} |\n", r.name, human(r.tg), r.torch > 0 ? human(r.torch) : "-",
                          r.torch > 0 ? fmt::format("{:.2f}", r.tg / r.torch) : "-");
    }
    std::string cpu = "unknown CPU";
    std::ifstream info("/proc/cpuinfo");
    for (std::string line; std::getline(info, line);) {
        if (line.rfind("model name", 0) == 0) {
            cpu = line.substr(line.find(':') + 2);
            break;
        }
    }
    char date[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
    const tg::BlasInfo blas = tg::blas_info();
    const std::string header = fmt::format(
        "Machine: {}, {} cores; {}; OpenBLAS kernels: {}; libtorch {}.\n"
        "Each time is the median of repeated runs (at least 5, for at least {} s of tapegrad's time), the two sides "
        "timed in alternating bursts of about 20 ms so that both see the same load; ratio = tapegrad / libtorch, "
        "below 1 means tapegrad is faster. Threads as named in each case, set for both sides.\n\n",
        cpu, std::thread::hardware_concurrency(), date, blas.core, bench::TorchSide::version(), min_seconds);
    fmt::print("{}{}", header, md);
    if (!out_path.empty()) {
        std::ofstream(out_path) << "# tapegrad vs libtorch\n\n" << header << md;
    }
    return 0;
}
