// Lesson 4: the same batch norm as nine primitive nodes and as one fused node.
//
// The fused node's backward is the closed form dx = gamma*inv_std/N * (N*dy - sum(dy) -
// xhat*sum(dy*xhat)): the nine nodes' chain rule, simplified by hand. Both must give the same
// numbers; the fused one keeps less for backward and runs faster.
#include <random>

#include "examples/lesson.hpp"

int main() {
    fmt::print("Lesson 4: composite vs fused batch norm\n\n");
    std::mt19937_64 rng(4);
    std::normal_distribution<double> dist(0.0, 1.0);
    tg::see::NormCase<double> c;
    c.x = tg::empty<double>({64, 16});
    c.dy = tg::empty<double>({64, 16});
    for (auto& e : c.x) e = 3.0 + 2.0 * dist(rng);
    for (auto& e : c.dy) e = dist(rng);
    tg::see::ReportOptions o;
    o.repeats = 21;
    const tg::see::Report r64 = tg::see::compare_norm(c, o);
    const tg::see::Report r32 = tg::see::compare_norm(c.as<float>(), o);
    fmt::print("{}\n{}\n", tg::see::report_text(r64), tg::see::report_text(r32));

    bool agree64 = true, agree32 = true;
    // elementwise, so near-zero entries of y count fully: a few ulps of the statistics show there
    for (const auto& row : r64.rows) agree64 = agree64 && row.rel_error < 1e-10;
    for (const auto& row : r32.rows) agree32 = agree32 && row.rel_error < 1e-4;
    lesson::claim(agree64, "in float64 every quantity agrees to a cs231n rel_error below 1e-10");
    lesson::claim(agree32, "in float32 every quantity agrees to a rel_error below 1e-4");
    bool numeric = true;
    for (const auto& row : r64.rows) {
        if (row.numeric_composite) numeric = numeric && *row.numeric_composite < 1e-5 && *row.numeric_fused < 1e-5;
    }
    lesson::claim(numeric, "both sides' gradients pass the central-difference check");
    lesson::claim(r64.fused.nodes == 1 && r64.composite.nodes == 9, "one node against nine");
    lesson::claim(r64.fused.saved_bytes < r64.composite.saved_bytes, "the fused node keeps fewer bytes for backward");
    return lesson::finish();
}
