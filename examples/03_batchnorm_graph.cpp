// Lesson 3: batch normalisation as a graph of primitives.
//
// mu = mean(X), xc = X - mu, sigma2 = mean(xc^2), std = sqrt(sigma2 + eps), xhat = xc / std,
// y = gamma * xhat + beta. The engine differentiates it with no batch-norm code at all; the trace
// then reads like the textbook derivation. Given a folder (lesson_03_batchnorm_graph /tmp), it
// also draws the graph there as lesson3_batchnorm.svg, and writes lesson3_batchnorm.html to step
// through it in a browser.
#include "examples/lesson.hpp"

int main(int argc, char** argv) {
    using tg::Array;
    using tg::Tensor;
    fmt::print("Lesson 3: batch norm as the textbook graph, differentiated by the engine alone\n\n");
    tg::nn::BatchNormOptions o;
    o.impl = tg::nn::BatchNormImpl::composite;
    tg::nn::BatchNorm1d<double> bn(2, o);
    Tensor<double> X = Tensor<double>(Array<double>{{1., 0.}, {2., 0.}, {3., 4.}, {6., 4.}}, true).named("X");
    const Array<double> dy = {{1., -1.}, {0., 2.}, {-1., 0.5}, {0.5, 1.}};
    Tensor<double> y = bn(X);
    tg::see::retain_all_grads(y);
    const auto trace = tg::see::trace_backward<double>(y, dy);
    const auto lines = tg::see::textbook_lines(trace);
    fmt::print("{}\n{}\n", tg::see::trace_text(trace), tg::see::textbook_text(lines));
    if (argc > 1) {
        const auto drawn = tg::see::render_dot(tg::see::to_dot(y), std::string(argv[1]) + "/lesson3_batchnorm", {"svg"});
        fmt::print("The graph: {}{}\n", drawn.files.empty() ? drawn.dot_path : drawn.files[0],
                   drawn.note.empty() ? "" : " (" + drawn.note + ")");
        tg::see::HtmlPage page("Lesson 3: batch norm as the textbook graph");
        page.add_trace("batch norm", trace, lines);
        page.write(std::string(argv[1]) + "/lesson3_batchnorm.html");
        fmt::print("Step through it in a browser: {}/lesson3_batchnorm.html\n\n", argv[1]);
    } else {
        fmt::print("(give a folder, as in `lesson_03_batchnorm_graph /tmp`, to draw the graph there)\n\n");
    }

    std::map<std::string, Array<double>> v;
    for (const auto& l : lines) {
        v[l.quantity] = l.value;
    }
    // column 0 is {1, 2, 3, 6}: mean 3, sigma2 = 3.5; by hand dL/dsigma2 = -1/2 sum dxhat (x-mu) (sigma2+eps)^-3/2
    const double s = 3.5 + 1e-5;
    const double ds2 = -0.5 * (1. * -2. + 0. * -1. + -1. * 0. + 0.5 * 3.) * std::pow(s, -1.5);
    lesson::claim(std::abs(v["dL/dsigma2"].data()[0] - ds2) < 1e-12, "dL/dsigma2 matches the hand computation for column 0");
    lesson::claim(xt::amax(xt::abs(v["dL/dmu from sigma2"]))() < 1e-15, "the sigma2 path adds nothing to dL/dmu: the deviations sum to 0");
    lesson::claim(xt::amax(xt::abs(Array<double>(v["dL/dX from xhat"] + v["dL/dX from sigma2"] + v["dL/dX from mu"] - X.grad())))() < 1e-15,
                  "dL/dX is the sum of its three paths: through xhat, sigma2 and mu");
    const Array<double> col_sums = xt::sum(X.grad(), {0});
    lesson::claim(xt::amax(xt::abs(col_sums))() < 1e-14, "each column of dL/dX sums to zero");
    return lesson::finish();
}
