#include <torch/torch.h>

#include "bench/torch_side.hpp"

namespace bench {

bool TorchSide::available() { return true; }
std::string TorchSide::version() { return TORCH_VERSION; }
void TorchSide::set_threads(int n) { torch::set_num_threads(n); }

Run TorchSide::batchnorm(long n, long d, bool f64, bool composite) {
    const auto dtype = f64 ? torch::kFloat64 : torch::kFloat32;
    torch::manual_seed(0);
    auto x = (torch::randn({n, d}, dtype) * 2 + 1).requires_grad_(true);
    auto dy = torch::randn({n, d}, dtype);
    if (!composite) {
        auto bn = std::make_shared<torch::nn::BatchNorm1dImpl>(d);
        bn->to(dtype);
        return [bn, x, dy]() mutable {
            x.mutable_grad() = torch::Tensor();
            bn->zero_grad();
            auto y = bn->forward(x);
            y.backward(dy);
        };
    }
    auto gamma = torch::ones({d}, dtype).requires_grad_(true);
    auto beta = torch::zeros({d}, dtype).requires_grad_(true);
    return [x, dy, gamma, beta]() mutable {
        x.mutable_grad() = torch::Tensor();
        gamma.mutable_grad() = torch::Tensor();
        beta.mutable_grad() = torch::Tensor();
        auto mu = x.mean(0);
        auto xc = x - mu;
        auto sigma2 = xc.pow(2).mean(0);
        auto sd = (sigma2 + 1e-5).sqrt();
        auto xhat = xc / sd;
        auto y = gamma * xhat + beta;
        y.backward(dy);
    };
}

Run TorchSide::sample_norm(long n, long d, long groups, bool f64) {
    const auto dtype = f64 ? torch::kFloat64 : torch::kFloat32;
    torch::manual_seed(0);
    auto x = (torch::randn({n, d}, dtype) * 2 + 1).requires_grad_(true);
    auto dy = torch::randn({n, d}, dtype);
    std::shared_ptr<torch::nn::Module> m;
    std::function<torch::Tensor(const torch::Tensor&)> f;
    if (groups == 0) {
        auto ln = std::make_shared<torch::nn::LayerNormImpl>(torch::nn::LayerNormOptions({d}));
        ln->to(dtype);
        m = ln;
        f = [ln](const torch::Tensor& t) { return ln->forward(t); };
    } else {
        auto gn = std::make_shared<torch::nn::GroupNormImpl>(torch::nn::GroupNormOptions(groups, d));
        gn->to(dtype);
        m = gn;
        f = [gn](const torch::Tensor& t) { return gn->forward(t); };
    }
    return [m, f, x, dy]() mutable {
        x.mutable_grad() = torch::Tensor();
        m->zero_grad();
        f(x).backward(dy);
    };
}

Run TorchSide::chain(int length) {
    auto x = torch::ones({1}, torch::kFloat32).requires_grad_(true);
    return [x, length]() mutable {
        x.mutable_grad() = torch::Tensor();
        auto y = x;
        for (int i = 0; i < length; ++i) {
            y = y + 1e-6;
        }
        y.backward(torch::ones_like(y));
    };
}

Run TorchSide::matmul(long m, long k, long n) {
    torch::manual_seed(0);
    auto a = torch::randn({m, k});
    auto b = torch::randn({k, n});
    return [a, b]() {
        torch::NoGradGuard no_grad;
        auto c = torch::mm(a, b);
    };
}

Run TorchSide::mlp_step(long batch) {
    torch::manual_seed(0);
    auto model = torch::nn::Sequential(torch::nn::Linear(784, 256), torch::nn::BatchNorm1d(256), torch::nn::ReLU(),
                                       torch::nn::Linear(256, 128), torch::nn::BatchNorm1d(128), torch::nn::ReLU(),
                                       torch::nn::Linear(128, 10));
    auto opt = std::make_shared<torch::optim::Adam>(model->parameters(), torch::optim::AdamOptions(1e-3));
    auto x = torch::rand({batch, 784});
    auto y = torch::randint(0, 10, {batch}, torch::kLong);
    return [model, opt, x, y]() mutable {
        opt->zero_grad();
        auto loss = torch::nn::functional::cross_entropy(model->forward(x), y);
        loss.backward();
        opt->step();
    };
}

}  // namespace bench

namespace bench {

Run TorchSide::micrograd(const MicrogradCase& c, bool scalar) {
    const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
    const std::size_t n = c.y.size();
    const std::size_t layers = c.sizes.size() - 1;
    if (scalar) {
        // one 0-d tensor per value, one op per scalar operation, as micrograd's Value
        struct Net {
            std::vector<std::vector<std::vector<torch::Tensor>>> w;  // layer, neuron, input
            std::vector<std::vector<torch::Tensor>> b;               // layer, neuron
            std::vector<torch::Tensor> params;
            std::vector<std::vector<torch::Tensor>> x;
            std::vector<double> y;
            int step = 0;
        };
        auto net = std::make_shared<Net>();
        for (std::size_t l = 0; l < layers; ++l) {
            const std::size_t in = c.sizes[l], out = c.sizes[l + 1];
            net->w.emplace_back(out);
            net->b.emplace_back();
            for (std::size_t j = 0; j < out; ++j) {
                for (std::size_t i = 0; i < in; ++i) {
                    net->w[l][j].push_back(torch::tensor(c.w[l][i * out + j], f64).requires_grad_(true));
                    net->params.push_back(net->w[l][j].back());
                }
                net->b[l].push_back(torch::tensor(0.0, f64).requires_grad_(true));
                net->params.push_back(net->b[l].back());
            }
        }
        for (std::size_t s = 0; s < n; ++s) {
            net->x.push_back({torch::tensor(c.x[2 * s], f64), torch::tensor(c.x[2 * s + 1], f64)});
        }
        net->y = c.y;
        const double alpha = c.alpha;
        return [net, n, layers, alpha]() mutable {
            torch::Tensor data_loss;
            for (std::size_t s = 0; s < n; ++s) {
                std::vector<torch::Tensor> act = net->x[s];
                for (std::size_t l = 0; l < layers; ++l) {
                    std::vector<torch::Tensor> next;
                    for (std::size_t j = 0; j < net->w[l].size(); ++j) {
                        torch::Tensor a = net->b[l][j];
                        for (std::size_t i = 0; i < act.size(); ++i) {
                            a = a + net->w[l][j][i] * act[i];
                        }
                        next.push_back(l + 1 < layers ? torch::relu(a) : a);
                    }
                    act = std::move(next);
                }
                torch::Tensor loss = torch::relu(1 + act[0] * (-net->y[s]));
                data_loss = data_loss.defined() ? data_loss + loss : loss;
            }
            data_loss = data_loss * (1.0 / static_cast<double>(n));
            torch::Tensor reg;
            for (const auto& p : net->params) {
                reg = reg.defined() ? reg + p * p : p * p;
            }
            torch::Tensor total = data_loss + alpha * reg;
            for (auto& p : net->params) {
                p.mutable_grad() = torch::Tensor();
            }
            total.backward();
            const double lr = 1.0 - 0.9 * (net->step++ % 100) / 100.0;
            torch::NoGradGuard no_grad;
            for (auto& p : net->params) {
                p.sub_(p.grad() * lr);
            }
        };
    }
    struct Net {
        std::vector<torch::Tensor> w, b;
        torch::Tensor x, y;
        int step = 0;
    };
    auto net = std::make_shared<Net>();
    for (std::size_t l = 0; l < layers; ++l) {
        const long in = static_cast<long>(c.sizes[l]), out = static_cast<long>(c.sizes[l + 1]);
        net->w.push_back(torch::tensor(c.w[l], f64).reshape({in, out}).requires_grad_(true));
        net->b.push_back(torch::zeros({out}, f64).requires_grad_(true));
    }
    net->x = torch::tensor(c.x, f64).reshape({static_cast<long>(n), 2});
    net->y = torch::tensor(c.y, f64).reshape({static_cast<long>(n), 1});
    const double alpha = c.alpha;
    return [net, layers, alpha]() mutable {
        torch::Tensor h = net->x;
        for (std::size_t l = 0; l < layers; ++l) {
            h = torch::matmul(h, net->w[l]) + net->b[l];
            if (l + 1 < layers) h = torch::relu(h);
        }
        torch::Tensor data_loss = torch::relu(1 - net->y * h).mean();
        torch::Tensor reg = (net->w[0] * net->w[0]).sum() + (net->b[0] * net->b[0]).sum();
        for (std::size_t l = 1; l < layers; ++l) {
            reg = reg + (net->w[l] * net->w[l]).sum() + (net->b[l] * net->b[l]).sum();
        }
        torch::Tensor total = data_loss + alpha * reg;
        for (std::size_t l = 0; l < layers; ++l) {
            net->w[l].mutable_grad() = torch::Tensor();
            net->b[l].mutable_grad() = torch::Tensor();
        }
        total.backward();
        const double lr = 1.0 - 0.9 * (net->step++ % 100) / 100.0;
        torch::NoGradGuard no_grad;
        for (std::size_t l = 0; l < layers; ++l) {
            net->w[l].sub_(net->w[l].grad() * lr);
            net->b[l].sub_(net->b[l].grad() * lr);
        }
    };
}

}  // namespace bench
