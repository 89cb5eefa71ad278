// The normalisation family beyond batch norm: layer norm and group norm, composite (the family's
// builder) and fused (one node, the closed form), against PyTorch 1.13's nn.LayerNorm and
// nn.GroupNorm (tests/fixtures/make_norm_fixtures.py), against each other, gradcheck and
// gradgradcheck, the closed form's invariants, and the errors.
#include <filesystem>
#include <fstream>
#include <map>

#include "helpers.hpp"

using tg::Array;
using tg::Shape;
using tg::Tensor;
using tg::nn::NormImpl;
namespace fs = std::filesystem;
using tgtest::random_tensor;
using tgtest::rel_diff;

namespace {

const fs::path norm_fixtures = fs::path(TAPEGRAD_FIXTURES) / "norm";

Shape parse_shape(const std::string& s) {
    Shape out;
    std::size_t pos = 0;
    while (pos < s.size()) {
        const std::size_t comma = s.find(',', pos);
        out.push_back(std::stoul(s.substr(pos, comma - pos)));
        if (comma == std::string::npos) break;
        pos = comma + 1;
    }
    return out;
}

// A module of the fixture's kind and options, its parameters set to the recorded ones.
template <class T>
std::unique_ptr<tg::nn::Module<T>> module_for(const fs::path& dir, const std::map<std::string, std::string>& meta,
                                              const Shape& x_shape, NormImpl impl) {
    const bool affine = meta.at("affine") == "1";
    const double eps = std::stod(meta.at("eps"));
    tg::OptionalTensor<T>* weight = nullptr;
    tg::OptionalTensor<T>* bias = nullptr;
    std::unique_ptr<tg::nn::Module<T>> m;
    if (meta.at("kind") == "layer") {
        auto ln = std::make_unique<tg::nn::LayerNorm<T>>(parse_shape(meta.at("normalized_shape")),
                                                         tg::nn::LayerNormOptions{eps, affine, impl});
        weight = &ln->weight;
        bias = &ln->bias;
        m = std::move(ln);
    } else {
        auto gn = std::make_unique<tg::nn::GroupNorm<T>>(std::stoul(meta.at("groups")), x_shape[1],
                                                         tg::nn::GroupNormOptions{eps, affine, impl});
        weight = &gn->weight;
        bias = &gn->bias;
        m = std::move(gn);
    }
    REQUIRE(weight->has_value() == affine);
    if (affine) {
        (*weight)->mutable_value() = tgtest::load<T>(dir, "gamma");
        (*bias)->mutable_value() = tgtest::load<T>(dir, "beta");
    }
    return m;
}

template <class T>
void replay(const fs::path& dir, const std::map<std::string, std::string>& meta, NormImpl impl) {
    const double tol = std::is_same_v<T, double> ? 1e-10 : 1e-4;
    Tensor<T> x(tgtest::load<T>(dir, "x"), true);
    auto m = module_for<T>(dir, meta, x.shape(), impl);
    Tensor<T> y = (*m)(x);
    CHECK(rel_diff(y.value(), tgtest::load<T>(dir, "y")) < tol);
    y.backward(Tensor<T>(tgtest::load<T>(dir, "dy")));
    CHECK(rel_diff(x.grad(), tgtest::load<T>(dir, "dx")) < tol);
    if (meta.at("affine") == "1") {
        const auto params = m->named_parameters();
        REQUIRE(params.size() == 2);
        CHECK(rel_diff(params[0].second.grad(), tgtest::load<T>(dir, "dgamma")) < tol);
        CHECK(rel_diff(params[1].second.grad(), tgtest::load<T>(dir, "dbeta")) < tol);
    }
}

std::vector<fs::path> cases() {
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(norm_fixtures)) {
        if (e.is_directory()) dirs.push_back(e.path());
    }
    std::sort(dirs.begin(), dirs.end());
    return dirs;
}

// The three ways under test for one kind, on tensors: composite, fused.
using NormFn = std::function<Tensor<double>(const Tensor<double>&, const tg::OptionalTensor<double>&,
                                            const tg::OptionalTensor<double>&, double eps)>;

struct Kind {
    std::string name;
    Shape x, param;
    NormFn composite, fused;
    std::vector<int> over;  // the axes each normalised set spans, after viewing x as rows
    std::vector<long> rows;  // that view
};

std::vector<Kind> kinds() {
    std::vector<Kind> k;
    for (const Shape& ns : {Shape{5}, Shape{3, 5}}) {
        k.push_back({"layer norm over " + tg::shape_str(ns), {4, 3, 5}, ns,
                     [ns](auto& x, auto& g, auto& b, double eps) { return tg::layernorm_composite(x, ns, g, b, eps); },
                     [ns](auto& x, auto& g, auto& b, double eps) { return tg::layernorm_fused(x, ns, g, b, eps); },
                     {1}, {ns.size() == 1 ? 12L : 4L, -1}});
    }
    for (std::size_t groups : {1, 2, 6}) {
        k.push_back({"group norm, " + std::to_string(groups) + " groups", {3, 6, 2, 2}, {6},
                     [groups](auto& x, auto& g, auto& b, double eps) { return tg::groupnorm_composite(x, groups, g, b, eps); },
                     [groups](auto& x, auto& g, auto& b, double eps) { return tg::groupnorm_fused(x, groups, g, b, eps); },
                     {2}, {3, static_cast<long>(groups), -1}});
    }
    return k;
}

}  // namespace

TEST_CASE("layer norm and group norm, composite and fused, reproduce PyTorch's nn.LayerNorm and nn.GroupNorm") {
    const std::vector<fs::path> dirs = cases();
    REQUIRE(dirs.size() == 14);
    for (const fs::path& dir : dirs) {
        const auto meta = tgtest::read_meta(dir);
        for (NormImpl impl : {NormImpl::composite, NormImpl::fused}) {
            INFO(dir.filename().string(), " ", tg::nn::to_string(impl));
            if (meta.at("dtype") == "float64") {
                replay<double>(dir, meta, impl);
            } else {
                replay<float>(dir, meta, impl);
            }
        }
    }
}

TEST_CASE("composite and fused agree to 1e-12 in float64, with and without affine") {
    for (const Kind& k : kinds()) {
        for (bool affine : {true, false}) {
            INFO(k.name, affine ? ", affine" : ", no affine");
            std::vector<Array<double>> grads[2];
            Array<double> ys[2];
            for (int side = 0; side < 2; ++side) {
                Tensor<double> x = random_tensor(k.x, 11, -2.0, 3.0);
                tg::OptionalTensor<double> g, b;
                if (affine) {
                    g = random_tensor(k.param, 12, 0.5, 1.5);
                    b = random_tensor(k.param, 13);
                }
                Tensor<double> y = side == 0 ? k.composite(x, g, b, 1e-5) : k.fused(x, g, b, 1e-5);
                y.backward(random_tensor(k.x, 14, -1.0, 1.0, false));
                ys[side] = y.value();
                grads[side].push_back(x.grad());
                if (affine) {
                    grads[side].push_back(g->grad());
                    grads[side].push_back(b->grad());
                }
            }
            CHECK(rel_diff(ys[1], ys[0]) < 1e-12);
            REQUIRE(grads[0].size() == grads[1].size());
            for (std::size_t i = 0; i < grads[0].size(); ++i) {
                CHECK(rel_diff(grads[1][i], grads[0][i]) < 1e-12);
            }
        }
    }
}

TEST_CASE("the closed form's invariants: over every normalised set, sum(dx) = 0 and, with eps = 0, sum(dx xhat) = 0") {
    // sum(xhat) = 0 makes the first exact; the second holds because sum(xhat^2) = N, which eps
    // spoils by the factor sigma2 / (sigma2 + eps)
    for (const Kind& k : kinds()) {
        for (int side = 0; side < 2; ++side) {
            INFO(k.name, side == 0 ? " composite" : " fused");
            Tensor<double> x = random_tensor(k.x, 15, -2.0, 3.0);
            const tg::OptionalTensor<double> g = random_tensor(k.param, 16, 0.5, 1.5);
            Tensor<double> y = (side == 0 ? k.composite : k.fused)(x, g, std::nullopt, 0.0);
            y.backward(random_tensor(k.x, 17, -1.0, 1.0, false));
            const Tensor<double> dx(x.grad());
            const Tensor<double> xhat = (side == 0 ? k.composite : k.fused)(x, std::nullopt, std::nullopt, 0.0).detach();
            const Array<double> s1 = tg::sum(tg::reshape(dx, k.rows), k.over).value();
            const Array<double> s2 = tg::sum(tg::reshape(dx * xhat, k.rows), k.over).value();
            CHECK(xt::amax(xt::abs(s1))() < 1e-12);
            CHECK(xt::amax(xt::abs(s2))() < 1e-12);
        }
    }
}

TEST_CASE("layer norm and group norm pass gradcheck and gradgradcheck, composite and fused") {
    for (const Kind& k : kinds()) {
        for (int side = 0; side < 2; ++side) {
            INFO(k.name, side == 0 ? " composite" : " fused");
            const NormFn& f = side == 0 ? k.composite : k.fused;
            const tg::GradcheckFn fn = [&f](const std::vector<Tensor<double>>& in) {
                return f(in[0], in[1], in[2], 1e-5);
            };
            const std::vector<Tensor<double>> inputs{random_tensor(k.x, 21, -2.0, 2.0), random_tensor(k.param, 22, 0.5, 1.5),
                                                     random_tensor(k.param, 23)};
            tgtest::check_gradients(fn, inputs);
            const tg::GradcheckResult second = tg::gradgradcheck(fn, inputs);
            INFO(second.summary());
            CHECK(second.ok);
        }
    }
}

TEST_CASE("the cs231n-style functions give the fused node's numbers") {
    Tensor<double> x = random_tensor({4, 6, 3}, 31, -1.0, 2.0);
    Tensor<double> g = random_tensor({6}, 32, 0.5, 1.5), b = random_tensor({6}, 33);
    const Tensor<double> dy = random_tensor({4, 6, 3}, 34, -1.0, 1.0, false);
    Tensor<double> y = tg::groupnorm_fused<double>(x, 3, g, b, 1e-5);
    y.backward(dy);
    auto [out, cache] = tg::groupnorm_forward<double>(x.value(), g.value(), b.value(), 3, 1e-5);
    const tg::NormGrads<double> r = tg::groupnorm_backward(dy.value(), cache);
    CHECK(rel_diff(out, y.value()) == 0);
    CHECK(rel_diff(r.dx, x.grad()) == 0);
    CHECK(rel_diff(r.dgamma, g.grad()) == 0);
    CHECK(rel_diff(r.dbeta, b.grad()) == 0);

    Tensor<double> x2 = random_tensor({5, 4}, 35);
    Tensor<double> y2 = tg::layernorm_fused<double>(x2, {4}, std::nullopt, std::nullopt, 1e-5);
    const Tensor<double> dy2 = random_tensor({5, 4}, 36, -1.0, 1.0, false);
    y2.backward(dy2);
    const Array<double> none = tg::empty<double>({0});  // no affine
    auto [out2, cache2] = tg::layernorm_forward<double>(x2.value(), none, none, {4}, 1e-5);
    CHECK(rel_diff(out2, y2.value()) == 0);
    CHECK(rel_diff(tg::layernorm_backward(dy2.value(), cache2).dx, x2.grad()) == 0);
}

TEST_CASE("the modules: parameters, evaluation mode the same as training, describe()") {
    tg::nn::LayerNorm<double> ln({3});
    CHECK(ln.named_parameters().size() == 2);
    CHECK(ln.describe() == "LayerNorm((3,), eps=1e-05, elementwise_affine=true, impl=fused)");
    const Tensor<double> x = random_tensor({2, 3}, 41);
    const Array<double> train = ln(x).value();
    ln.eval();
    CHECK(rel_diff(ln(x).value(), train) == 0);
    tg::nn::GroupNorm<float> gn(2, 4, tg::nn::GroupNormOptions{1e-3, false, NormImpl::composite});
    CHECK(gn.named_parameters().empty());
    CHECK(gn.describe() == "GroupNorm(2, 4, eps=0.001, affine=false, impl=composite)");
}

TEST_CASE("bad input: one clear error each") {
    using tgtest::has;
    using tgtest::message_of;
    const Tensor<double> x = random_tensor({2, 3, 4}, 51);
    std::string m = message_of<tg::ShapeError>([&] { tg::layernorm_fused<double>(x, {3}, std::nullopt, std::nullopt, 1e-5); });
    CHECK(has(m, "layernorm_fused: normalized_shape [3] must be the input's trailing dimensions; got input of shape [2, 3, 4]"));
    CHECK_THROWS_AS(tg::layernorm_composite<double>(x, {2, 4}, std::nullopt, std::nullopt, 1e-5), tg::ShapeError);
    m = message_of<tg::ValueError>([&] { tg::groupnorm_fused<double>(x, 2, std::nullopt, std::nullopt, 1e-5); });
    CHECK(has(m, "groupnorm_fused: 3 channels do not split into 2 groups"));
    m = message_of<tg::ValueError>([&] {
        tg::groupnorm_composite<double>(random_tensor({2, 3}, 52), 3, std::nullopt, std::nullopt, 1e-5);
    });
    CHECK(has(m, "each group holds a single value"));
    m = message_of<tg::ValueError>([&] {
        tg::layernorm_fused<double>(random_tensor({2, 3, 1}, 53), {1}, std::nullopt, std::nullopt, 1e-5);
    });
    CHECK(has(m, "holds a single value"));
    m = message_of<tg::ShapeError>([&] {
        tg::layernorm_fused<double>(x, {4}, random_tensor({3}, 54), std::nullopt, 1e-5);
    });
    CHECK(has(m, "gamma must have shape [4], got [3]"));
    CHECK_THROWS_AS(tg::nn::GroupNorm<double>(4, 6), tg::ValueError);
    CHECK_THROWS_AS(tg::nn::LayerNorm<double>({1}), tg::ValueError);
    tg::nn::GroupNorm<double> gn(1, 4);
    m = message_of<tg::ShapeError>([&] { gn(x); });
    CHECK(has(m, "GroupNorm: expected an input of shape (N, 4, *), got [2, 3, 4]"));
}
