// Lesson 1: the chain rule on a scalar expression, and the trace of the engine applying it. Given a
// folder (lesson_01_chain_rule /tmp), it also writes the trace there as a page to step through.
//
//   f(a, b) = (a * b + b) * exp(a)
//
// By hand: let u = a*b + b and v = exp(a), so f = u * v.
//   df/du = v,  df/dv = u
//   du/da = b,  du/db = a + 1,  dv/da = exp(a)
//   df/da = df/du * du/da + df/dv * dv/da = v*b + u*exp(a)      (two paths reach a)
//   df/db = df/du * du/db = v*(a + 1)                           (b is used twice inside u)
#include <cmath>

#include "examples/lesson.hpp"

int main(int argc, char** argv) {
    using tg::Tensor;
    fmt::print("Lesson 1: the chain rule, one node at a time\n\n");
    Tensor<double> a = Tensor<double>::scalar(0.5, true).named("a");
    Tensor<double> b = Tensor<double>::scalar(-2.0, true).named("b");
    Tensor<double> u = (a * b + b).named("u");
    Tensor<double> v = tg::exp(a).named("v");
    Tensor<double> f = (u * v).named("f");
    fmt::print("a = {}, b = {}:  u = a*b + b = {},  v = exp(a) = {:.6f},  f = u*v = {:.6f}\n\n", a.item(), b.item(), u.item(),
               v.item(), f.item());

    const auto trace = tg::see::trace_backward<double>(f);
    fmt::print("{}\n", tg::see::trace_text(trace));
    if (argc > 1) {  // a folder: the same trace as a page to step through in a browser
        const std::string page = std::string(argv[1]) + "/lesson1_chain_rule.html";
        tg::see::write_html(trace, page, "Lesson 1: the chain rule, one node at a time");
        fmt::print("Step through it in a browser: {}\n\n", page);
    }

    const double A = 0.5, B = -2.0, U = A * B + B, V = std::exp(A);
    fmt::print("By hand: df/da = v*b + u*exp(a) = {:.6f}, df/db = v*(a + 1) = {:.6f}\n\n", V * B + U * V, V * (A + 1));
    lesson::claim(std::abs(a.grad()() - (V * B + U * V)) < 1e-12, "the engine's df/da equals the hand derivation");
    lesson::claim(std::abs(b.grad()() - V * (A + 1)) < 1e-12, "the engine's df/db equals the hand derivation");
    // a reaches f along two paths (through u and through v): the engine adds both contributions
    bool a_summed = false;
    for (const auto& acc : trace.accumulated) {
        if (acc.tensor == "a") {
            a_summed = acc.parts.size() == 2 && std::abs(acc.total() - a.grad()()) < 1e-15;
        }
    }
    lesson::claim(a_summed, "a receives two contributions, and .grad is their sum");
    return lesson::finish();
}
