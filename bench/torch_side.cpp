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

Run TorchSide::rownorm(long n, long d, long groups, bool f64) {
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
