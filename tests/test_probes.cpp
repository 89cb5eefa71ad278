// The measurements of the classic batch-norm experiments (nn/probes.hpp) on cases whose answers
// are known: percentiles against NumPy, the Hessian's top eigenvalue against the dense Hessian of
// a two-layer net, the landscape probe against a quadratic.
#include <cmath>

#include <xtensor-blas/xlinalg.hpp>

#include "helpers.hpp"

using tg::Array;
using tg::Tensor;

TEST_CASE("percentiles interpolate between ranks as NumPy's np.percentile does") {
    // np.percentile([3, 1, 4, 1, 5, 9, 2, 6, 5.5, -2], [0, 15, 50, 85, 100]) with NumPy 1.24
    const auto p = tg::nn::percentiles({3, 1, 4, 1, 5, 9, 2, 6, 5.5, -2}, {0, 15, 50, 85, 100});
    REQUIRE(p.size() == 5);
    CHECK(p[0] == -2.0);
    CHECK(p[1] == doctest::Approx(1.0).epsilon(1e-15));
    CHECK(p[2] == doctest::Approx(3.5).epsilon(1e-15));
    CHECK(p[3] == doctest::Approx(5.825).epsilon(1e-14));
    CHECK(p[4] == 9.0);
    CHECK(tg::nn::percentiles({7.0}, {15, 50, 85}) == std::vector<double>{7.0, 7.0, 7.0});
    CHECK_THROWS_AS(tg::nn::percentiles({}, {50}), tg::ValueError);
    CHECK_THROWS_AS(tg::nn::percentiles({1.0}, {101}), tg::ValueError);
}

namespace {

// A two-layer net's training loss, cross_entropy(tanh(x W1 + b1) W2, labels), on fixed data.
struct TwoLayer {
    Tensor<double> x = tgtest::random_tensor({6, 3}, 11, -1.0, 1.0, false);
    std::vector<std::int64_t> labels{0, 1, 1, 0, 1, 0};
    Tensor<double> w1 = tgtest::random_tensor({3, 4}, 12, -1.0, 1.0);
    Tensor<double> b1 = tgtest::random_tensor({4}, 13, -0.5, 0.5);
    Tensor<double> w2 = tgtest::random_tensor({4, 2}, 14, -1.0, 1.0);
    std::vector<Tensor<double>> params() const { return {w1, b1, w2}; }
    Tensor<double> loss() const { return tg::nn::cross_entropy(tg::matmul(tg::tanh(tg::matmul(x, w1) + b1), w2), labels); }
    // every parameter's gradient, flattened into one vector
    std::vector<double> flat_gradient() const {
        std::vector<double> out;
        for (const auto& g : tg::grad<double>({loss()}, params())) {
            out.insert(out.end(), g.value().begin(), g.value().end());
        }
        return out;
    }
};

}  // namespace

TEST_CASE("the Hessian's top eigenvalue by power iteration matches the dense Hessian's of a two-layer net") {
    TwoLayer net;
    // the dense Hessian by central differences of the gradient (first-order backward only)
    const std::size_t n = 3 * 4 + 4 + 4 * 2;
    Array<double> h = xt::zeros<double>({n, n});
    const double step = 1e-5;
    std::size_t col = 0;
    for (auto& p : net.params()) {
        Tensor<double> handle = p;
        for (std::size_t k = 0; k < p.numel(); ++k, ++col) {
            const double keep = handle.value().data()[k];
            handle.mutable_value().data()[k] = keep + step;
            const auto up = net.flat_gradient();
            handle.mutable_value().data()[k] = keep - step;
            const auto down = net.flat_gradient();
            handle.mutable_value().data()[k] = keep;
            for (std::size_t r = 0; r < n; ++r) {
                h(r, col) = (up[r] - down[r]) / (2 * step);
            }
        }
    }
    const Array<double> sym = 0.5 * (h + xt::transpose(h));
    const auto eig = xt::linalg::eigh(sym);
    const Array<double> values = std::get<0>(eig);
    double top = 0;
    for (double v : values) {
        top = std::abs(v) > std::abs(top) ? v : top;
    }
    const tg::nn::EigenEstimate e = tg::nn::top_hessian_eigenvalue(net.loss(), net.params(), 2000, 1e-12, 3);
    INFO("dense " << top << ", power iteration " << e.value << " after " << e.products << " products");
    CHECK(e.converged);
    CHECK(std::abs(e.value - top) <= 1e-6 * std::abs(top));

    SUBCASE("one Hessian-vector product equals the dense Hessian times the vector") {
        const auto first = tg::nn::loss_gradient(net.loss(), net.params());
        std::vector<Array<double>> v;
        Array<double> flat = tgtest::random_tensor({n}, 21, -1.0, 1.0, false).value();
        std::size_t at = 0;
        for (const auto& p : net.params()) {
            Array<double> part = xt::view(flat, xt::range(at, at + p.numel()));
            part.reshape(p.shape());
            v.push_back(part);
            at += p.numel();
        }
        const auto hv = tg::nn::hessian_vector_product(first, net.params(), v);
        const Array<double> want = xt::linalg::dot(sym, flat);
        std::size_t r = 0;
        for (const auto& part : hv) {
            for (double got : part) {
                CHECK(got == doctest::Approx(want(r++)).epsilon(1e-6).scale(1.0));
            }
        }
    }
}

TEST_CASE("the top eigenvalue is the largest one, also where the largest in magnitude is negative") {
    // L = -2.5 x^2 + y^2 + 0.5 x y: H = [[-5, 0.5], [0.5, 2]], eigenvalues (-3 -+ sqrt(49 + 1)) / 2
    Tensor<double> x(Array<double>{0.3}, true), y(Array<double>{-0.2}, true);
    const Tensor<double> loss = tg::sum(-2.5 * x * x + y * y + 0.5 * x * y);
    const tg::nn::EigenEstimate e = tg::nn::top_hessian_eigenvalue<double>(loss, {x, y}, 500, 1e-13, 1);
    CHECK(e.converged);
    CHECK(e.value == doctest::Approx((-3.0 + std::sqrt(50.0)) / 2).epsilon(1e-9));
}

TEST_CASE("the landscape probe on a quadratic: losses, gradient change and beta-smoothness in closed form") {
    // L(w) = 1/2 sum(a w^2), a = (1, 4, 9), at w = (1, 1, 1): g = a w = (1, 4, 9); at w - eta g the
    // gradient is a (w - eta g), so it changes by eta |a g| and beta = |a g| / |g| for every eta
    const Array<double> a{1.0, 4.0, 9.0};
    Tensor<double> w(Array<double>{1.0, 1.0, 1.0}, true);
    const tg::nn::LossAndGradient<double> evaluate = [&] {
        const Tensor<double> loss = 0.5 * tg::sum(Tensor<double>(a) * w * w);
        return std::make_pair(static_cast<double>(loss.item()), std::vector<Array<double>>{tg::grad<double>({loss}, {w})[0].value()});
    };
    const tg::nn::LandscapeProbe p = tg::nn::probe_landscape<double>({w}, evaluate, {0.01, 0.05, 0.1});
    const double ag = std::sqrt(1.0 + 16 * 16 + 81 * 81), g = std::sqrt(1.0 + 16 + 81);
    auto loss_at = [&](double eta) {
        double s = 0;
        for (std::size_t i = 0; i < 3; ++i) {
            const double wi = 1.0 - eta * a(i);
            s += 0.5 * a(i) * wi * wi;
        }
        return s;
    };
    REQUIRE(p.losses.size() == 3);
    CHECK(p.losses[0] == doctest::Approx(loss_at(0.01)).epsilon(1e-14));
    CHECK(p.losses[2] == doctest::Approx(loss_at(0.1)).epsilon(1e-14));
    CHECK(p.loss_range == doctest::Approx(loss_at(0.01) - loss_at(0.1)).epsilon(1e-13));
    CHECK(p.gradient_change == doctest::Approx(0.1 * ag).epsilon(1e-13));
    CHECK(p.beta_smoothness == doctest::Approx(ag / g).epsilon(1e-13));
    CHECK(w.value() == Array<double>{1.0, 1.0, 1.0});  // put back as it was
    CHECK_THROWS_AS(tg::nn::probe_landscape<double>({w}, evaluate, {}), tg::ValueError);
}

TEST_CASE("activation statistics and update ratios: makemore's diagnostics on a net small enough to check by hand") {
    tg::nn::Generator gen(5);
    tg::nn::Sequential<double> net;
    auto lin = std::make_shared<tg::nn::Linear<double>>(2, 4, gen);
    net.add(lin).add(std::make_shared<tg::nn::Tanh<double>>()).add(std::make_shared<tg::nn::Linear<double>>(4, 3, gen));
    lin->weight.mutable_value() = Array<double>{{3.0, 0.0}, {0.1, 0.2}, {-4.0, 1.0}, {0.5, -0.5}};
    const Tensor<double> x(Array<double>{{1.0, 2.0}, {-1.0, 0.5}, {0.2, -0.3}});
    const std::vector<std::int64_t> y{0, 2, 1};
    const auto stats = tg::nn::activation_stats(net, x, y);
    REQUIRE(stats.size() == 1);
    CHECK(stats[0].layer == 1);
    CHECK(stats[0].kind == "Tanh");
    // the same by hand: the tanh layer's output and the gradient of the loss with respect to it
    Tensor<double> h = tg::tanh(tg::matmul(x, tg::transpose(lin->weight, 0, 1)) + *lin->bias);
    const Tensor<double> hd = h.detach().set_requires_grad();
    const Tensor<double> g = tg::grad<double>({tg::nn::cross_entropy(net[2](hd), y)}, {hd})[0];
    const Array<double>& v = h.value();
    const double mean = xt::mean(v)(), sd = std::sqrt(xt::sum(xt::square(v - mean))() / double(v.size() - 1));
    const double saturated = xt::sum(xt::cast<double>(xt::abs(v) > 0.97))() / double(v.size());
    CHECK(stats[0].mean == doctest::Approx(mean).epsilon(1e-12));
    CHECK(stats[0].std == doctest::Approx(sd).epsilon(1e-12));
    CHECK(saturated > 0);  // the weights of 3 and -4 saturate some units
    CHECK(stats[0].saturated == doctest::Approx(saturated).epsilon(1e-15));
    CHECK(stats[0].grad_mean == doctest::Approx(xt::mean(g.value())()).epsilon(1e-10));

    // an update of 1e-3 times the data's own values: the ratio is 1e-3 / 1.001, log10 about -3
    std::vector<Array<double>> before;
    for (const auto& [name, p] : net.named_parameters()) {
        before.push_back(p.value());
    }
    lin->weight.mutable_value() *= 1.001;
    const auto ratios = tg::nn::update_ratios(before, net);
    REQUIRE(ratios.size() == 2);  // the two weights; biases (one dimension) are left out
    CHECK(ratios[0].name == "0.weight");
    CHECK(ratios[0].log10_ratio == doctest::Approx(std::log10(1e-3 / 1.001)).epsilon(1e-9));
    CHECK(std::isinf(ratios[1].log10_ratio));  // a weight that did not move: log10(0)
}
