#include "cli/demo.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "see/values.hpp"
#include "tapegrad.hpp"

namespace tgcli {

namespace {

using tg::Array;
using tg::Tensor;

// "[3, 2] [[0.01, -0.2], ...]": the shape, then the values row by row.
std::string values(const Array<double>& a) {
    return fmt::format("{} {}", tg::shape_str(a.shape()), tg::see::show(a, a.size()));
}

int run_demo() {
    fmt::print("tapegrad demo: build an expression, run backward, read the gradients\n\n");

    fmt::print("1. A scalar expression (micrograd's first example)\n");
    Tensor<double> x = Tensor<double>::scalar(-4.0, true).named("x");
    Tensor<double> z = 2.0 * x + 2.0 + x;
    Tensor<double> q = tg::relu(z) + z * x;
    Tensor<double> h = tg::relu(z * z);
    Tensor<double> y = h + q + q * x;
    y.backward();
    fmt::print("   z = 2x + 2 + x, q = relu(z) + z*x, h = relu(z*z), y = h + q + q*x\n");
    fmt::print("   x = {}  ->  y = {}\n", x.item(), y.item());
    fmt::print("   dy/dx = {}   (by hand: dy/dx = 46)\n\n", x.grad()());

    fmt::print("2. A layer: loss = mean(tanh(X W + b)^2) for X [4, 3], W [3, 2], b [2]\n");
    Tensor<double> X(Array<double>{{0.5, -1.0, 2.0}, {1.5, 0.0, -0.5}, {-2.0, 1.0, 1.0}, {0.0, 0.5, -1.5}});
    Tensor<double> W(Array<double>{{0.1, -0.2}, {0.3, 0.4}, {-0.5, 0.6}}, true);
    Tensor<double> b(Array<double>{0.05, -0.05}, true);
    Tensor<double> loss = tg::mean(tg::pow(tg::tanh(tg::matmul(X, W) + b), 2));
    loss.backward();
    fmt::print("   loss    = {:.6f}\n", loss.item());
    fmt::print("   dL/dW   = {}\n", values(W.grad()));
    fmt::print("   dL/db   = {}\n", values(b.grad()));

    auto f = [&](const std::vector<Tensor<double>>& in) {
        return tg::mean(tg::pow(tg::tanh(tg::matmul(X, in[0]) + in[1]), 2));
    };
    const tg::GradcheckResult check = tg::gradcheck(f, {W.detach().named("W").set_requires_grad(),
                                                       b.detach().named("b").set_requires_grad()});
    fmt::print("\n3. The same gradients checked by central differences:\n{}", check.summary());
    return check.ok ? 0 : 1;
}

}  // namespace

Command demo_command(CLI::App& app) {
    return Command{app.add_subcommand("demo", "build a small expression, run backward and print the gradients"), [] {},
                   run_demo};
}

}  // namespace tgcli
