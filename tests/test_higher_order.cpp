// Gradients of gradients: tg::grad, backward with create_graph, gradgradcheck for every primitive,
// and both batch norms at the second and third order against PyTorch.
#include <filesystem>

#include "helpers.hpp"

using tg::Array;
using tg::Tensor;
using tgtest::random_tensor;
using Inputs = std::vector<Tensor<double>>;
namespace fs = std::filesystem;

namespace {

// gradgradcheck, reporting its summary on failure.
void check_second(const tg::GradcheckFn& f, const Inputs& inputs) {
    const tg::GradcheckResult r = tg::gradgradcheck(f, inputs);
    INFO(r.summary());
    CHECK(r.ok);
    CHECK(r.inputs.size() == inputs.size() + 1);  // and v, the upstream of the first derivative
}

tg::GradOptions graph() {
    tg::GradOptions o;
    o.create_graph = true;
    return o;
}

}  // namespace

TEST_CASE("grad of x^3 gives 3x^2, 6x and 6 at the first three orders, and touches no .grad") {
    Tensor<double> x(Array<double>{0.5, -2.0, 3.0}, true);
    const Tensor<double> y = tg::sum(tg::pow(x, 3));
    const Tensor<double> d1 = tg::grad<double>({y}, {x}, {}, graph())[0];
    CHECK(tgtest::max_abs_diff(d1.value(), Array<double>{0.75, 12.0, 27.0}) < 1e-14);
    CHECK(d1.requires_grad());  // it has a history of its own
    const Tensor<double> d2 = tg::grad<double>({tg::sum(d1)}, {x}, {}, graph())[0];
    CHECK(tgtest::max_abs_diff(d2.value(), Array<double>{3.0, -12.0, 18.0}) < 1e-14);
    const Tensor<double> d3 = tg::grad<double>({tg::sum(d2)}, {x})[0];
    CHECK(tgtest::max_abs_diff(d3.value(), Array<double>{6.0, 6.0, 6.0}) < 1e-14);
    CHECK_FALSE(d3.requires_grad());  // without create_graph: a plain result
    CHECK_FALSE(x.has_grad());
}

TEST_CASE("without create_graph a backward records nothing: the gradients carry no history") {
    Tensor<double> x = random_tensor({3, 4}, 1);
    const Tensor<double> loss = tg::sum(tg::tanh(x) * x);
    loss.backward();
    CHECK_FALSE(x.grad_tensor().requires_grad());
    CHECK(x.grad_tensor().is_leaf());
}

TEST_CASE("backward with create_graph leaves a .grad that can be differentiated: a gradient penalty") {
    // L = sum(x^2 * w); dL/dx = 2 x w; penalty P = sum((dL/dx)^2) = 4 sum(x^2 w^2); dP/dx = 8 x w^2
    Tensor<double> x = random_tensor({5}, 2);
    Tensor<double> w = random_tensor({5}, 3, 0.5, 1.5, false);
    const Tensor<double> loss = tg::sum(tg::pow(x, 2) * w);
    tg::BackwardOptions o;
    o.create_graph = true;
    loss.backward(o);
    const Tensor<double> gx = x.grad_tensor();
    REQUIRE(gx.requires_grad());
    const Tensor<double> penalty = tg::sum(tg::pow(gx, 2));
    const Tensor<double> dp = tg::grad<double>({penalty}, {x})[0];
    const Array<double> want = 8.0 * x.value() * w.value() * w.value();
    CHECK(tgtest::max_abs_diff(dp.value(), want) < 1e-13);
    x.zero_grad();  // x.grad refers to x: the cycle PyTorch has too, broken here as it advises
}

TEST_CASE("grad follows torch.autograd.grad: several outputs and inputs, grad_outputs, allow_unused") {
    Tensor<double> a = random_tensor({2, 3}, 4);
    Tensor<double> b = random_tensor({3}, 5);
    Tensor<double> unused = random_tensor({2}, 6);
    const Tensor<double> y1 = a * b;             // (2, 3)
    const Tensor<double> y2 = tg::sum(b * b);    // scalar
    const Tensor<double> g1 = random_tensor({2, 3}, 7, -1.0, 1.0, false);
    const Tensor<double> g2 = Tensor<double>::scalar(2.0);
    tg::GradOptions o;
    o.allow_unused = true;
    const auto gs = tg::grad<double>({y1, y2}, {a, b, unused}, {g1, g2}, o);
    REQUIRE(gs.size() == 3);
    CHECK(tgtest::max_abs_diff(gs[0].value(), Array<double>(g1.value() * b.value())) < 1e-15);
    const Array<double> db = xt::sum(g1.value() * a.value(), {0}) + 4.0 * b.value();
    CHECK(tgtest::max_abs_diff(gs[1].value(), db) < 1e-14);
    CHECK_FALSE(gs[2].defined());
    // without allow_unused: a clear error that names the input and the option
    const std::string m = tgtest::message_of<tg::GraphError>([&] { tg::grad<double>({tg::sum(b * b)}, {unused}); });
    CHECK(tgtest::has(m, "grad: input 0 was not used to compute the outputs"));
    CHECK(tgtest::has(m, "allow_unused"));
}

TEST_CASE("grad refuses a graph already freed and keeps it with create_graph, as PyTorch") {
    Tensor<double> x = random_tensor({3}, 8);
    const Tensor<double> y = tg::sum(tg::exp(x));
    tg::grad<double>({y}, {x});  // frees the saved tensors
    CHECK(tgtest::has(tgtest::message_of<tg::GraphError>([&] { tg::grad<double>({y}, {x}); }), "retain_graph"));
    const Tensor<double> z = tg::sum(tg::exp(x));
    tg::grad<double>({z}, {x}, {}, graph());  // create_graph keeps the graph by default
    CHECK(tg::grad<double>({z}, {x})[0].value() == xt::exp(x.value()));
}

TEST_CASE("retain_grad, NoGradGuard and anomaly mode under create_graph") {
    SUBCASE("a retained intermediate's .grad has a history") {
        Tensor<double> x = random_tensor({4}, 9);
        Tensor<double> h = tg::pow(x, 2);
        h.retain_grad();
        tg::BackwardOptions o;
        o.create_graph = true;
        tg::sum(tg::pow(h, 2)).backward(o);  // dL/dh = 2h = 2x^2
        REQUIRE(h.grad_tensor().requires_grad());
        const Tensor<double> d = tg::grad<double>({tg::sum(h.grad_tensor())}, {x})[0];  // d(2x^2)/dx = 4x
        CHECK(tgtest::max_abs_diff(d.value(), Array<double>(4.0 * x.value())) < 1e-14);
        h.zero_grad();  // break the cycle h.grad -> graph -> h
        x.zero_grad();
    }
    SUBCASE("create_graph records the gradient's graph even inside a NoGradGuard, as PyTorch's engine") {
        Tensor<double> x = random_tensor({4}, 10);
        const Tensor<double> y = tg::sum(tg::pow(x, 3));
        tg::NoGradGuard no_grad;
        const Tensor<double> d = tg::grad<double>({y}, {x}, {}, graph())[0];
        CHECK(d.requires_grad());
        CHECK_FALSE(tg::grad_enabled());  // and the guard's mode is back afterwards
    }
    SUBCASE("anomaly mode checks the second backward's gradients too") {
        Tensor<double> x(Array<double>{0.0, 1.0}, true);
        const Tensor<double> y = tg::sum(tg::pow(x, 1.5));  // d/dx = 1.5 sqrt(x), finite; its derivative 0.75/sqrt(x)
        const Tensor<double> d = tg::grad<double>({y}, {x}, {}, graph())[0];
        tg::DetectAnomalyGuard anomaly;
        const std::string m = tgtest::message_of<tg::AnomalyError>([&] { tg::grad<double>({tg::sum(d)}, {x}); });
        CHECK(tgtest::has(m, "anomaly in backward: the gradient that pow_backward sends to"));
    }
}

TEST_CASE("gradgradcheck catches a backward that is right at the first order only") {
    // x^2 with a backward rule g * (2x) where 2x is a constant: the first derivative is right, the
    // second (which needs 2x's dependence on x) is missing
    auto square = [](const Tensor<double>& x) {
        Tensor<double> out(Array<double>(xt::square(x.value())));
        return tg::record<double>(out, "square_first_order_only", {x}, {x}, "g*2x, 2x constant",
                                  [](const tg::Node<double>& n, const Tensor<double>& g) {
                                      return tg::grads<double>(tg::mul(g, Tensor<double>(Array<double>(2.0 * n.saved_value(0)))));
                                  });
    };
    Tensor<double> x = random_tensor({4}, 11);
    const auto f = [&](const Inputs& in) { return square(in[0]); };
    CHECK(tg::gradcheck(f, {x}).ok);
    const tg::GradcheckResult r = tg::gradgradcheck(f, {x});
    CHECK_FALSE(r.ok);
    CHECK_FALSE(r.inputs[0].ok);
}

TEST_CASE("gradgradcheck passes for every element-wise primitive, with broadcasting") {
    const Tensor<double> a = random_tensor({3, 4}, 12, 0.5, 2.0);
    const Tensor<double> row = random_tensor({4}, 13, 0.5, 2.0);
    const Tensor<double> col = random_tensor({3, 1}, 14, 0.5, 2.0);
    const Tensor<double> s = random_tensor({}, 15, 0.5, 2.0);
    const Tensor<double> mixed = random_tensor({3, 4}, 16, -2.0, 2.0);
    SUBCASE("add") { check_second([](const Inputs& in) { return in[0] + in[1] * in[1]; }, {a, row}); }
    SUBCASE("sub") { check_second([](const Inputs& in) { return (in[0] - in[1]) * (in[0] - in[1]); }, {a, col}); }
    SUBCASE("mul") { check_second([](const Inputs& in) { return in[0] * in[1]; }, {a, row}); }
    SUBCASE("mul by a scalar tensor") { check_second([](const Inputs& in) { return in[0] * in[1] * in[0]; }, {a, s}); }
    SUBCASE("div, same shape") { check_second([](const Inputs& in) { return in[0] / in[1]; }, {a, random_tensor({3, 4}, 26, 0.5, 2.0)}); }
    SUBCASE("div by a row") { check_second([](const Inputs& in) { return in[0] / in[1]; }, {a, row}); }
    SUBCASE("div by a column") { check_second([](const Inputs& in) { return in[0] / in[1]; }, {a, col}); }
    SUBCASE("neg") { check_second([](const Inputs& in) { return -(in[0] * in[0]); }, {mixed}); }
    for (double p : {2.0, 3.0, -1.0, 0.5, -0.5, 1.5, 1.0}) {
        CAPTURE(p);
        check_second([p](const Inputs& in) { return tg::pow(in[0], p); }, {a});
    }
    SUBCASE("sqrt") { check_second([](const Inputs& in) { return tg::sqrt(in[0]); }, {a}); }
    SUBCASE("exp") { check_second([](const Inputs& in) { return tg::exp(in[0]); }, {mixed}); }
    SUBCASE("log") { check_second([](const Inputs& in) { return tg::log(in[0]); }, {a}); }
    SUBCASE("abs") { check_second([](const Inputs& in) { return tg::abs(in[0]) * in[0]; }, {mixed}); }
    SUBCASE("relu") { check_second([](const Inputs& in) { return tg::relu(in[0]) * in[0]; }, {mixed}); }
    SUBCASE("tanh") { check_second([](const Inputs& in) { return tg::tanh(in[0]); }, {mixed}); }
    SUBCASE("sigmoid") { check_second([](const Inputs& in) { return tg::sigmoid(in[0]); }, {mixed}); }
    SUBCASE("clamp") { check_second([](const Inputs& in) { return tg::clamp(in[0], -1.0, 1.0) * in[0]; }, {mixed}); }
    SUBCASE("maximum and minimum") {
        check_second([](const Inputs& in) { return tg::maximum(in[0], in[1]) * tg::minimum(in[0], in[1]); }, {mixed, row});
    }
    SUBCASE("where") {
        const Array<bool> c = mixed.value() > 0.0;
        check_second([c](const Inputs& in) { return tg::where(c, in[0] * in[0], in[1] * in[1]); }, {mixed, row});
    }
}

TEST_CASE("gradgradcheck passes for reductions over axes, shapes, indexing and statistics") {
    const Tensor<double> x = random_tensor({3, 4}, 17, -2.0, 2.0);
    const Tensor<double> x3 = random_tensor({2, 3, 4}, 18, -2.0, 2.0);
    auto sq = [](const Tensor<double>& t) { return t * t; };
    SUBCASE("sum and mean over axes") {
        check_second([&](const Inputs& in) { return tg::sum(sq(in[0]), {0, 2}); }, {x3});
        check_second([&](const Inputs& in) { return tg::mean(sq(in[0]), {1}, true) * in[0]; }, {x3});
        check_second([&](const Inputs& in) { return tg::mean(sq(in[0])); }, {x});
    }
    SUBCASE("reshape, permute, transpose, squeeze, unsqueeze, flatten") {
        check_second([&](const Inputs& in) { return sq(tg::reshape(in[0], {4, 3})); }, {x});
        check_second([&](const Inputs& in) { return sq(tg::permute(in[0], {2, 0, 1})); }, {x3});
        check_second([&](const Inputs& in) { return sq(tg::transpose(in[0], 0, 2)); }, {x3});
        check_second([&](const Inputs& in) { return sq(tg::squeeze(tg::unsqueeze(in[0], 1), 1)); }, {x});
        check_second([&](const Inputs& in) { return sq(tg::flatten(in[0], 1)); }, {x3});
    }
    SUBCASE("expand, cat, stack, narrow") {
        const Tensor<double> row = random_tensor({1, 4}, 19);
        check_second([&](const Inputs& in) { return sq(tg::expand(in[0], {3, 4})); }, {row});
        check_second([&](const Inputs& in) { return sq(tg::cat<double>({in[0], in[1]}, 0)); }, {x, row});
        check_second([&](const Inputs& in) { return sq(tg::stack<double>({in[0], in[0] * 2.0}, 1)); }, {x});
        check_second([&](const Inputs& in) { return sq(tg::narrow(in[0], 1, 1, 2)); }, {x});
    }
    SUBCASE("take_rows, index_select, pick (repeated indices)") {
        const Array<std::int64_t> idx{{0, 2}, {2, 1}};
        check_second([&](const Inputs& in) { return sq(tg::take_rows(in[0], idx)); }, {x});
        check_second([&](const Inputs& in) { return sq(tg::index_select(in[0], 1, {3, 0, 3})); }, {x});
        check_second([&](const Inputs& in) { return sq(tg::pick(in[0], {1, 1, 3})); }, {x});
    }
    SUBCASE("amax, amin, var, std, logsumexp, softmax") {
        check_second([&](const Inputs& in) { return sq(tg::amax(in[0], {1})); }, {x});
        check_second([&](const Inputs& in) { return sq(tg::amin(in[0], {0}, true)); }, {x});
        check_second([&](const Inputs& in) { return tg::var(in[0], {1}, 1); }, {x3});
        check_second([&](const Inputs& in) { return tg::std(in[0], {0}, 0); }, {x});
        check_second([&](const Inputs& in) { return tg::logsumexp(in[0], {1}); }, {x3});
        check_second([&](const Inputs& in) { return tg::softmax(in[0], 1); }, {x});
    }
}

TEST_CASE("gradgradcheck passes for matmul, linear, log_softmax and nll_loss") {
    const Tensor<double> a = random_tensor({3, 4}, 20);
    const Tensor<double> b = random_tensor({4, 2}, 21);
    SUBCASE("matmul 2-D") { check_second([](const Inputs& in) { return tg::matmul(in[0], in[1]); }, {a, b}); }
    SUBCASE("matmul with broadcast batches and 1-D operands") {
        const Tensor<double> batch = random_tensor({2, 3, 4}, 22);
        const Tensor<double> v = random_tensor({4}, 23);
        check_second([](const Inputs& in) { return tg::matmul(in[0], in[1]); }, {batch, b});
        check_second([](const Inputs& in) { return tg::matmul(in[0], in[1]); }, {batch, v});
        check_second([](const Inputs& in) { return tg::matmul(in[1], tg::transpose(in[0], 1, 2)); }, {batch, v});
    }
    SUBCASE("linear with a bias") {
        const Tensor<double> w = random_tensor({2, 4}, 24);
        const Tensor<double> bias = random_tensor({2}, 25);
        check_second([](const Inputs& in) { return tg::tanh(tg::linear(in[0], in[1], std::optional(in[2]))); }, {a, w, bias});
    }
    SUBCASE("log_softmax and nll_loss, each reduction") {
        const std::vector<std::int64_t> labels{1, 3, 0};
        check_second([](const Inputs& in) { return tg::log_softmax(in[0], 1); }, {a});
        for (tg::Reduction r : {tg::Reduction::mean, tg::Reduction::sum, tg::Reduction::none}) {
            tg::NllOptions o;
            o.reduction = r;
            o.weight = {1.0, 0.5, 2.0, 1.5};
            check_second([&](const Inputs& in) { return tg::nll_loss(tg::log_softmax(in[0], 1), labels, o); }, {a});
        }
    }
}

// ---- batch norm, one and two orders up ---------------------------------------------------------

namespace {

const fs::path double_fixtures = fs::path(TAPEGRAD_FIXTURES) / "double";

Array<double> load(const std::string& c, const std::string& name) {
    return tg::io::load_npy<double>((double_fixtures / (c + "." + name + ".npy")).string());
}

struct NormCase {
    std::string name;
    bool training;
    bool affine;
};

// y for one case, composite or fused; gamma and beta may be absent.
Tensor<double> batch_norm(const NormCase& c, bool fused, const Tensor<double>& x, const Tensor<double>& gamma,
                          const Tensor<double>& beta) {
    const tg::Axes axes = tg::channel_axes(x.dim());
    const tg::OptionalTensor<double> g = c.affine ? tg::OptionalTensor<double>(gamma) : std::nullopt;
    const tg::OptionalTensor<double> b = c.affine ? tg::OptionalTensor<double>(beta) : std::nullopt;
    if (c.training) {
        return fused ? tg::batchnorm_fused(x, g, b, axes, 1e-5).y : tg::batchnorm_composite(x, g, b, axes, 1e-5).y;
    }
    const Array<double> m = load(c.name, "running_mean"), v = load(c.name, "running_var");
    return fused ? tg::batchnorm_fused_eval(x, g, b, m, v, axes, 1e-5) : tg::batchnorm_composite_eval(x, g, b, m, v, axes, 1e-5);
}

struct Orders {
    Array<double> gx, gg, hx, hg, hdy, tx;
};

// The derivatives the fixture generator records, computed here.
Orders orders(const NormCase& c, bool fused) {
    Tensor<double> x(load(c.name, "x"), true);
    Tensor<double> dy(load(c.name, "dy"), true);
    Tensor<double> gamma = c.affine ? Tensor<double>(load(c.name, "gamma"), true) : Tensor<double>();
    Tensor<double> beta = c.affine ? Tensor<double>(load(c.name, "beta"), true) : Tensor<double>();
    const Tensor<double> vx(load(c.name, "vx")), vg(load(c.name, "vg")), wx(load(c.name, "wx"));
    Inputs params{x};
    if (c.affine) {
        params.push_back(gamma);
    }
    const Tensor<double> l1 = tg::sum(dy * batch_norm(c, fused, x, gamma, beta));
    const Inputs first = tg::grad<double>({l1}, params, {}, graph());
    Tensor<double> l2 = tg::sum(first[0] * vx);
    if (c.affine) {
        l2 = l2 + tg::sum(first[1] * vg);
    }
    Inputs wrt = params;
    wrt.push_back(dy);
    tg::GradOptions o = graph();
    o.allow_unused = true;
    const Inputs second = tg::grad<double>({l2}, wrt, {}, o);
    const Inputs third = tg::grad<double>({tg::sum(second[0] * wx)}, {x}, {}, o);
    Orders r;
    r.gx = first[0].value();
    r.hx = second[0].value();
    r.hdy = second.back().value();
    r.tx = third[0].defined() ? third[0].value() : Array<double>(xt::zeros<double>(x.shape()));
    if (c.affine) {
        r.gg = first[1].value();
        r.hg = second[1].value();
    }
    return r;
}

const std::vector<NormCase> bn_cases{
    {"train_6x3", true, true}, {"train_noaffine_6x3", true, false}, {"train_4x3x5", true, true}, {"eval_6x3", false, true}};

}  // namespace

TEST_CASE("batch norm's second derivatives, composite and fused, equal PyTorch's to 1e-10") {
    for (const NormCase& c : bn_cases) {
        for (bool fused : {false, true}) {
            CAPTURE(c.name);
            CAPTURE(fused);
            const Orders r = orders(c, fused);
            tgtest::check_like_pytorch(r.gx, load(c.name, "gx"), "dL/dx", 1e-10);
            tgtest::check_like_pytorch(r.hx, load(c.name, "hx"), "d2L/dx2 . v", 1e-10);
            tgtest::check_like_pytorch(r.hdy, load(c.name, "hdy"), "d2L/dx ddy . v", 1e-10);
            if (c.affine) {
                tgtest::check_like_pytorch(r.gg, load(c.name, "gg"), "dL/dgamma", 1e-10);
                tgtest::check_like_pytorch(r.hg, load(c.name, "hg"), "d2L/dgamma . v", 1e-10);
            }
        }
    }
}

TEST_CASE("batch norm's third derivative: composite and fused agree with PyTorch's primitives, not its F.batch_norm") {
    for (const NormCase& c : bn_cases) {
        CAPTURE(c.name);
        const Orders comp = orders(c, false), fused = orders(c, true);
        CHECK(tgtest::max_abs_diff(comp.tx, fused.tx) < 1e-10);
        tgtest::check_like_pytorch(fused.tx, load(c.name, "tx_composite"), "d3L/dx3 . (v, w)", 1e-9);
        if (c.training) {
            // PyTorch 1.13's fused op is wrong here (the fixture keeps its answer): tapegrad is not
            CHECK(tgtest::max_abs_diff(fused.tx, load(c.name, "tx_fused")) > 1e-3);
        }
    }
}

TEST_CASE("gradgradcheck passes for both batch norms and for their first derivatives (third order)") {
    const Tensor<double> x = random_tensor({5, 3}, 30, -2.0, 3.0);
    const Tensor<double> gamma = random_tensor({3}, 31, 0.5, 1.5);
    const Tensor<double> beta = random_tensor({3}, 32);
    const Tensor<double> dy = random_tensor({5, 3}, 33, -1.0, 1.0, false);
    const tg::Axes axes{0};
    for (bool fused : {false, true}) {
        CAPTURE(fused);
        auto bn = [fused, axes](const Inputs& in) {
            return fused ? tg::batchnorm_fused<double>(in[0], in[1], in[2], axes, 1e-5).y
                         : tg::batchnorm_composite<double>(in[0], in[1], in[2], axes, 1e-5).y;
        };
        check_second(bn, {x, gamma, beta});
        // the first derivative dL/dx of L = sum(dy * y), as a function: its second derivatives are
        // batch norm's third
        auto first = [bn, dy](const Inputs& in) {
            return tg::grad<double>({tg::sum(dy * bn(in))}, {in[0]}, {}, graph())[0];
        };
        check_second(first, {x, gamma, beta});
    }
}

TEST_CASE("the fused node's closed form as ops equals the tuned kernels at the first order") {
    for (const tg::Shape& shape : {tg::Shape{6, 3}, tg::Shape{4, 3, 5}}) {
        CAPTURE(tg::shape_str(shape));
        Tensor<double> x = random_tensor(shape, 40, -2.0, 3.0);
        Tensor<double> gamma = random_tensor({3}, 41, 0.5, 1.5);
        Tensor<double> beta = random_tensor({3}, 42);
        const Tensor<double> dy = random_tensor(shape, 43, -1.0, 1.0, false);
        const tg::Axes axes = tg::channel_axes(shape.size());
        tg::batchnorm_fused<double>(x, gamma, beta, axes, 1e-5).y.backward(dy.value());
        const auto ref = tg::batchnorm_backward_reference<double>(dy, x.detach(), gamma.detach(), axes, 1e-5, true);
        CHECK(tgtest::max_abs_diff(ref.dx.value(), x.grad()) < 1e-12);
        CHECK(tgtest::max_abs_diff(ref.dgamma.value(), gamma.grad()) < 1e-12);
        CHECK(tgtest::max_abs_diff(ref.dbeta.value(), beta.grad()) < 1e-12);
    }
}
