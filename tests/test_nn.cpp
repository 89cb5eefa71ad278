// Modules, losses, optimisers, saving and training: against PyTorch's recorded steps, hand
// values, and the properties a user relies on.
#include <filesystem>

#include "cli_helpers.hpp"

using tg::Array;
using tg::Tensor;
using namespace tg::nn;
using tgtest::random_tensor;
namespace fs = std::filesystem;

namespace {

std::shared_ptr<Sequential<double>> small_model(BatchNormImpl impl) {
    Generator gen(0);
    BatchNormOptions o;
    o.impl = impl;
    auto m = std::make_shared<Sequential<double>>();
    m->add(std::make_shared<Linear<double>>(5, 4, gen))
        .add(std::make_shared<BatchNorm1d<double>>(4, o))
        .add(std::make_shared<ReLU<double>>())
        .add(std::make_shared<Linear<double>>(4, 3, gen));
    return m;
}

}  // namespace

TEST_CASE("parameters and buffers carry PyTorch's state_dict names") {
    auto m = small_model(BatchNormImpl::fused);
    std::vector<std::string> names;
    for (const auto& [n, t] : m->named_parameters()) names.push_back(n);
    CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"});
    names.clear();
    for (const auto& [n, t] : m->named_buffers()) names.push_back(n);
    CHECK(names == std::vector<std::string>{"1.running_mean", "1.running_var"});
    CHECK(m->named_counters().size() == 1);
    CHECK(m->named_counters()[0].first == "1.num_batches_tracked");
    m->eval();
    CHECK_FALSE((*m)[1].is_training());
}

TEST_CASE("SGD and Adam steps reproduce PyTorch's recorded numbers") {
    const fs::path root = fs::path(TAPEGRAD_FIXTURES) / "optim";
    for (const std::string c : {"sgd_momentum", "sgd_nesterov", "sgd_plain", "adam", "adam_weight_decay"}) {
        for (BatchNormImpl impl : {BatchNormImpl::composite, BatchNormImpl::fused}) {
            CAPTURE(c);
            CAPTURE(std::string(to_string(impl)));
            const fs::path dir = root / c;
            auto m = small_model(impl);
            load_model(*m, dir.string());  // PyTorch's own initial state_dict
            std::unique_ptr<Optimizer<double>> opt;
            if (c == "sgd_momentum") opt = std::make_unique<SGD<double>>(m->parameters(), SGDOptions{0.1, 0.9, 0, 1e-2, false});
            if (c == "sgd_nesterov") opt = std::make_unique<SGD<double>>(m->parameters(), SGDOptions{0.05, 0.8, 0, 0, true});
            if (c == "sgd_plain") opt = std::make_unique<SGD<double>>(m->parameters(), SGDOptions{0.2, 0, 0, 0, false});
            if (c == "adam") opt = std::make_unique<Adam<double>>(m->parameters(), AdamOptions{1e-2, 0.9, 0.999, 1e-8, 0});
            if (c == "adam_weight_decay") opt = std::make_unique<Adam<double>>(m->parameters(), AdamOptions{3e-3, 0.8, 0.99, 1e-6, 0.1});
            const Tensor<double> x(tg::io::load_npy<double>((dir / "x.npy").string()));
            const Array<std::int64_t> ya = tg::io::load_npy<std::int64_t>((dir / "y.npy").string());
            const std::vector<std::int64_t> y(ya.begin(), ya.end());
            const Array<double> losses = tg::io::load_npy<double>((dir / "losses.npy").string());
            for (int step = 0; step < 3; ++step) {
                CAPTURE(step);
                opt->zero_grad();
                Tensor<double> loss = cross_entropy((*m)(x), y);
                loss.backward();
                opt->step();
                CHECK(loss.item() == doctest::Approx(losses(step)).epsilon(1e-12));
                // 0.bias feeds batch norm, which removes any shift: its gradient is 0 but for
                // rounding (checked here), and Adam divides that rounding by eps = 1e-8, so both
                // frameworks' values carry rounding times lr/eps; everything else matches to 1e-10.
                const Array<double>& bias_grad = m->named_parameters()[1].second.grad();
                CHECK(xt::amax(xt::abs(bias_grad))() < 1e-15);
                for (const auto& [name, p] : m->named_parameters()) {
                    const auto param = name;
                    CAPTURE(param);
                    const Array<double> want = tg::io::load_npy<double>((dir / fmt::format("step{}.{}.npy", step, name)).string());
                    const bool amplified = name == "0.bias" && c.rfind("adam", 0) == 0;
                    CHECK(tgtest::rel_diff(p.value(), want) < (amplified ? 1e-8 : 1e-10));
                }
            }
        }
    }
}

TEST_CASE("cross_entropy and mse match hand-computed values and gradients") {
    Tensor<double> logits(Array<double>{{1., 2., 3.}, {1., 1., 1.}}, true);
    Tensor<double> loss = cross_entropy(logits, {2, 0});
    // row 0: -log(e^3 / (e + e^2 + e^3)); row 1: log 3
    const double l0 = -3.0 + std::log(std::exp(1.) + std::exp(2.) + std::exp(3.));
    CHECK(loss.item() == doctest::Approx((l0 + std::log(3.0)) / 2).epsilon(1e-14));
    loss.backward();
    // d/dlogits = (softmax - onehot) / N
    CHECK(logits.grad()(1, 0) == doctest::Approx((1.0 / 3 - 1) / 2).epsilon(1e-14));
    CHECK(logits.grad()(1, 1) == doctest::Approx((1.0 / 3) / 2).epsilon(1e-14));
    CHECK_THROWS_AS(cross_entropy(logits, {3, 0}), tg::ValueError);
    CHECK_THROWS_AS(cross_entropy(logits, {0}), tg::ShapeError);
    // logits of magnitude 1e4 stay finite
    Tensor<float> big(Array<float>{{1e4f, -1e4f}, {-1e4f, 1e4f}});
    CHECK(std::isfinite(cross_entropy(big, {1, 0}).item()));
    CHECK(mse(Tensor<double>(Array<double>{1., 2.}), Tensor<double>(Array<double>{0., 4.})).item() == 2.5);
}

TEST_CASE("Linear uses PyTorch's default initialisation bounds and the linear op's gradients") {
    Generator gen(3);
    Linear<double> lin(100, 7, gen);
    CHECK(lin.weight.shape() == tg::Shape{7, 100});
    CHECK(xt::amax(xt::abs(lin.weight.value()))() <= 0.1);
    CHECK(xt::amax(xt::abs(lin.weight.value()))() > 0.09);  // the bound 1/sqrt(100) is reached, nearly
    CHECK(xt::amax(xt::abs(lin.bias->value()))() <= 0.1);
    Tensor<double> x = random_tensor({4, 3}, 1);
    Tensor<double> w = random_tensor({2, 3}, 2);
    Tensor<double> b = random_tensor({2}, 3);
    tgtest::check_gradients([](const std::vector<Tensor<double>>& in) { return tg::linear(in[0], in[1], std::optional(in[2])); },
                            {x, w, b});
    CHECK_THROWS_AS(tg::linear(x, random_tensor({2, 4}, 4), std::optional<Tensor<double>>()), tg::ShapeError);
}

TEST_CASE("Dropout zeroes a share p in training, scales the rest, and is the identity in evaluation") {
    Dropout<double> drop(0.25, 7);
    Tensor<double> x = Tensor<double>::ones({200, 50});
    const Array<double> y = drop(x).value();
    const double zeros = static_cast<double>(xt::sum(xt::equal(y, 0.0))());
    CHECK(zeros / 10000 == doctest::Approx(0.25).epsilon(0.1));
    CHECK(xt::amax(y)() == doctest::Approx(1.0 / 0.75));
    drop.eval();
    CHECK(drop(x).value() == x.value());
    CHECK_THROWS_AS(Dropout<double>(1.0, 0), tg::ValueError);
}

TEST_CASE("the MLP's settings by name, as the command line and the logs spell them") {
    CHECK(activation_named("tanh") == Activation::tanh);
    CHECK(optimizer_named("sgd") == OptimizerKind::sgd);
    CHECK(batchnorm_named("composite") == BatchNormImpl::composite);
    CHECK_FALSE(batchnorm_named("none").has_value());
    for (Activation a : {Activation::relu, Activation::tanh, Activation::sigmoid}) {
        CHECK(activation_named(to_string(a)) == a);
    }
    CHECK(std::string(to_string(OptimizerKind::adam)) == "adam");
    CHECK_THROWS_WITH_AS(activation_named("gelu"), "mlp: the activation must be relu, tanh or sigmoid, got \"gelu\"",
                         tg::ValueError);
    CHECK_THROWS_WITH_AS(optimizer_named("Adam"), "optimizer: expected sgd or adam, got \"Adam\"", tg::ValueError);
    CHECK_THROWS_AS(batchnorm_named("batch"), tg::ValueError);
}

TEST_CASE("a small MLP learns two spirals to 100% training accuracy") {
    Split<double> d = split(two_spirals<double>(400, 1), 0.25, 1);
    MlpConfig m;
    m.hidden = {32, 32};
    m.act = Activation::tanh;
    m.seed = 2;
    auto model = make_mlp<double>(2, 2, m);
    auto opt = make_optimizer(*model, OptimConfig{OptimizerKind::adam, 0.01, 0, false, 0});
    double acc = 0;
    for (std::size_t e = 0; e < 300 && acc < 1.0; ++e) {
        train_epoch(*model, *opt, d.train, 32, 0, e);
        acc = accuracy(*model, d.train);
    }
    CHECK(acc == 1.0);
    CHECK(accuracy(*model, d.test) > 0.9);
}

TEST_CASE("the same seed gives the same numbers run after run") {
    auto run = [] {
        Split<float> d = split(two_moons<float>(300, 5), 0.2, 5);
        MlpConfig m;
        m.hidden = {16};
        m.norm = HiddenNorm{NormKind::batch, BatchNormImpl::fused};
        m.dropout = 0.1;
        m.seed = 9;
        auto model = make_mlp<float>(2, 2, m);
        auto opt = make_optimizer(*model, OptimConfig{OptimizerKind::sgd, 0.1, 0.9, true, 1e-4});
        std::vector<double> losses;
        for (std::size_t e = 0; e < 3; ++e) losses.push_back(train_epoch(*model, *opt, d.train, 16, 9, e).train_loss);
        return losses;
    };
    CHECK(run() == run());
    CHECK(tg::nn::epoch_order(10, 1, 0) == tg::nn::epoch_order(10, 1, 0));
    CHECK(tg::nn::epoch_order(10, 1, 0) != tg::nn::epoch_order(10, 1, 1));
}

TEST_CASE("composite and fused training runs agree after an epoch, to 1e-6 relative in float64") {
    for (NormKind kind : {NormKind::batch, NormKind::layer}) {
        CAPTURE(to_string(kind));
        Split<double> d = split(two_moons<double>(512, 3), 0.25, 3);
        std::vector<std::shared_ptr<Sequential<double>>> models;
        for (BatchNormImpl bn : {BatchNormImpl::composite, BatchNormImpl::fused}) {
            MlpConfig m;
            m.hidden = {32, 16};
            m.norm = HiddenNorm{kind, bn};
            m.seed = 4;
            auto model = make_mlp<double>(2, 2, m);
            CHECK((*model)[1].describe().rfind(kind == NormKind::batch ? "BatchNorm1d" : "LayerNorm", 0) == 0);
            auto opt = make_optimizer(*model, OptimConfig{OptimizerKind::adam, 1e-2, 0, false, 0});
            train_epoch(*model, *opt, d.train, 32, 4, 0);  // 12 steps
            models.push_back(model);
        }
        const auto a = models[0]->named_parameters();
        const auto b = models[1]->named_parameters();
        REQUIRE(a.size() == b.size());
        for (std::size_t i = 0; i < a.size(); ++i) {
            CAPTURE(a[i].first);
            CHECK(tgtest::rel_diff(a[i].second.value(), b[i].second.value()) < 1e-6);
        }
        const auto ba = models[0]->named_buffers();  // batch norm's running statistics
        const auto bb = models[1]->named_buffers();
        REQUIRE(ba.size() == bb.size());
        CHECK(ba.empty() == (kind == NormKind::layer));
        for (std::size_t i = 0; i < ba.size(); ++i) {
            CHECK(tgtest::rel_diff(ba[i].second.value(), bb[i].second.value()) < 1e-6);
        }
    }
}

TEST_CASE("an MLP takes batch or layer norm after its hidden layers, not group norm") {
    MlpConfig m;
    m.hidden = {8};
    m.norm = HiddenNorm{NormKind::group, BatchNormImpl::fused};
    CHECK_THROWS_WITH_AS(make_mlp<float>(2, 2, m), doctest::Contains("batch or layer norm"), tg::ValueError);
}

TEST_CASE("save then load gives identical predictions; a missing or mis-shaped file fails clearly") {
    tgtest::TempDir dir;
    auto m = small_model(BatchNormImpl::fused);
    Tensor<double> x = random_tensor({6, 5}, 1, -1, 1, false);
    m->train();
    (*m)(x);  // moves the running statistics off their defaults
    m->eval();
    const Array<double> before = (*m)(x).value();
    save_model(*m, dir / "model");
    CHECK(fs::exists(dir / "model/1.num_batches_tracked.npy"));
    auto fresh = small_model(BatchNormImpl::composite);
    fresh->eval();
    CHECK((*fresh)(x).value() != before);
    load_model(*fresh, dir / "model");
    CHECK((*fresh)(x).value() == before);
    CHECK(*fresh->named_counters()[0].second == 1);

    fs::remove(dir / "model/3.bias.npy");
    auto other = small_model(BatchNormImpl::fused);
    const Array<double> w0 = other->named_parameters()[0].second.value();
    try {
        load_model(*other, dir / "model");
        FAIL("a missing file was not refused");
    } catch (const tg::IoError& e) {
        CHECK(std::string(e.what()).find("3.bias.npy is missing") != std::string::npos);
    }
    CHECK(other->named_parameters()[0].second.value() == w0);  // nothing half-loaded
    tg::io::save_npy<double>(dir / "model/3.bias.npy", Array<double>(xt::zeros<double>({4})));
    try {
        load_model(*other, dir / "model");
        FAIL("a mis-shaped file was not refused");
    } catch (const tg::IoError& e) {
        CHECK(std::string(e.what()).find("has shape [4] but the model's 3.bias has shape [3]") != std::string::npos);
    }
}
