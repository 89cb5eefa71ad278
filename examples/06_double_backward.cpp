// Lesson 6: gradients of gradients, through both batch norms.
//
// A backward rule is itself made of ops. Run it with create_graph and the engine records those
// ops too: the gradient gets a graph of its own, which the same engine differentiates again. The
// composite batch norm gets every order that way for free, because its gradient is built from
// the same primitives as its forward. The fused node has one hand-written rule; to be right one
// order up it must compute that rule from ops that keep their dependence on x (tapegrad's does:
// it recomputes the mean and 1/std from x inside the differentiable path). PyTorch 1.13's fused
// op does not, and its third derivative is wrong (tests/fixtures/double/summary.txt).
//
// Part 1: a Hessian-vector product H v of L = sum(dy * batchnorm(x)), by grad of <grad L, v>,
//         composite and fused, at orders 1, 2 and 3.
// Part 2: a gradient penalty on a small MLP with batch norm: the loss plus ||dloss/dx||^2, whose
//         own gradient needs the second derivative (as in WGAN-GP); composite and fused agree.
#include <random>

#include "examples/lesson.hpp"

using tg::Tensor;
using Tensors = std::vector<Tensor<double>>;

namespace {

Tensor<double> random(const tg::Shape& shape, std::mt19937_64& rng, bool requires_grad = false) {
    std::normal_distribution<double> dist(0.0, 1.0);
    tg::Array<double> a = tg::empty<double>(shape);
    for (auto& e : a) e = dist(rng);
    return Tensor<double>(std::move(a), requires_grad);
}

double max_diff(const Tensor<double>& a, const Tensor<double>& b) {
    return xt::amax(xt::abs(a.value() - b.value()))();
}

tg::GradOptions with_graph() {
    tg::GradOptions o;
    o.create_graph = true;
    return o;
}

// batch norm over the batch axis, composite or fused
Tensor<double> bn(bool fused, const Tensor<double>& x, const Tensor<double>& gamma, const Tensor<double>& beta) {
    return fused ? tg::batchnorm_fused<double>(x, gamma, beta, {0}, 1e-5).y
                 : tg::batchnorm_composite<double>(x, gamma, beta, {0}, 1e-5).y;
}

// dL/dx, H v and the third derivative along (v, w), for one implementation.
Tensors orders(bool fused, const Tensor<double>& x0, const Tensor<double>& gamma0, const Tensor<double>& dy,
               const Tensor<double>& v, const Tensor<double>& w, std::size_t& nodes) {
    Tensor<double> x(x0.value(), true), gamma(gamma0.value(), true), beta = Tensor<double>::zeros({x0.shape()[1]}, true);
    const Tensor<double> loss = tg::sum(dy * bn(fused, x, gamma, beta));
    const Tensor<double> g1 = tg::grad<double>({loss}, {x}, {}, with_graph())[0];         // dL/dx
    const Tensor<double> g2 = tg::grad<double>({tg::sum(g1 * v)}, {x}, {}, with_graph())[0];  // H v
    const Tensor<double> g3 = tg::grad<double>({tg::sum(g2 * w)}, {x})[0];                // d/dx <H v, w>
    nodes = 0;
    for (const auto* t : tg::topological_order(g2)) nodes += t->grad_fn ? 1 : 0;
    return {g1, g2, g3};
}

}  // namespace

int main() {
    fmt::print("Lesson 6: gradients of gradients through both batch norms\n\n");
    std::mt19937_64 rng(6);
    const Tensor<double> x = random({8, 3}, rng), dy = random({8, 3}, rng);
    const Tensor<double> v = random({8, 3}, rng), w = random({8, 3}, rng);
    const Tensor<double> gamma(tg::Array<double>{1.5, 0.5, -1.0});

    fmt::print("Part 1: L = sum(dy * batchnorm(x)) for x of shape [8, 3]\n");
    std::size_t comp_nodes = 0, fused_nodes = 0;
    const Tensors c = orders(false, x, gamma, dy, v, w, comp_nodes);
    const Tensors f = orders(true, x, gamma, dy, v, w, fused_nodes);
    const char* names[] = {"dL/dx", "H v = d/dx <dL/dx, v>", "d/dx <H v, w>"};
    for (std::size_t k = 0; k < 3; ++k) {
        fmt::print("  order {}: {:<24} composite vs fused, max |difference| {:.2e}\n", k + 1, names[k], max_diff(c[k], f[k]));
    }
    fmt::print("  H v's graph: {} op nodes from the composite, {} from the fused node's rule\n\n", comp_nodes, fused_nodes);
    lesson::claim(max_diff(c[0], f[0]) < 1e-12, "first order: the closed form equals the engine's chain rule");
    lesson::claim(max_diff(c[1], f[1]) < 1e-10, "second order: the Hessian-vector products agree");
    lesson::claim(max_diff(c[2], f[2]) < 1e-10, "third order: they still agree (PyTorch 1.13's fused op does not)");

    // H v against central differences of the first derivative along v
    const double h = 1e-5;
    std::size_t unused = 0;
    const Tensors plus = orders(true, Tensor<double>(x.value() + h * v.value()), gamma, dy, v, w, unused);
    const Tensors minus = orders(true, Tensor<double>(x.value() - h * v.value()), gamma, dy, v, w, unused);
    const tg::Array<double> numeric = (plus[0].value() - minus[0].value()) / (2 * h);
    const double err = xt::amax(xt::abs(numeric - f[1].value()))();
    fmt::print("  H v against (dL/dx(x + h v) - dL/dx(x - h v)) / 2h, h = 1e-5: max |difference| {:.2e}\n\n", err);
    lesson::claim(err < 1e-6, "the fused H v matches central differences of its own first derivative");

    fmt::print("\nPart 2: a gradient penalty on a 3-8-2 MLP with batch norm\n");
    const Tensor<double> data = random({16, 3}, rng);
    const std::vector<std::int64_t> labels{0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0};
    const Tensor<double> w1 = random({8, 3}, rng), w2 = random({2, 8}, rng);
    tg::Array<double> dw1[2];
    for (bool fused : {false, true}) {
        Tensor<double> in(data.value(), true), a(w1.value(), true), b(w2.value(), true);
        const Tensor<double> g = Tensor<double>::ones({8}), z = Tensor<double>::zeros({8});
        const Tensor<double> hidden = tg::relu(bn(fused, tg::linear<double>(in, a, std::nullopt), g, z));
        const Tensor<double> loss = tg::nll_loss(tg::log_softmax(tg::linear<double>(hidden, b, std::nullopt), 1), labels);
        const Tensor<double> dx = tg::grad<double>({loss}, {in}, {}, with_graph())[0];
        const Tensor<double> total = loss + 10.0 * tg::sum(dx * dx);  // penalise the input gradient's size
        total.backward();
        dw1[fused] = a.grad();
        fmt::print("  {:<9} loss {:.6f}, penalty {:.3e}, |dtotal/dW1| = {:.6f}\n", fused ? "fused" : "composite", loss.item(),
                   10.0 * tg::sum(dx * dx).item(), std::sqrt(xt::sum(a.grad() * a.grad())()));
    }
    const double d = xt::amax(xt::abs(dw1[0] - dw1[1]))();
    fmt::print("  dtotal/dW1, composite vs fused: max |difference| {:.2e}\n\n", d);
    lesson::claim(d < 1e-10, "the penalty's gradient, which goes through the second derivative, agrees");
    return lesson::finish();
}
