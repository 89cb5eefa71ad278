// softmax, logsumexp, amax/amin/max/min, var/std with a correction, clamp, maximum/minimum and
// where: values and gradients against PyTorch 1.13 (recorded once by
// tests/fixtures/make_op_fixtures.py: ties, infinities, NaN, constant slices, broadcasting), and
// every gradient by central differences.
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>

#include "helpers.hpp"

using tg::Array;
using tg::Tensor;
using namespace tgtest;
namespace fs = std::filesystem;

namespace {

Array<double> load(const std::string& name) {
    return tg::load_npy<double>((fs::path(TAPEGRAD_FIXTURES) / "ops" / (name + ".npy")).string());
}

// NaN where PyTorch has NaN, the same infinity, finite values within 1e-12 relative.
void same(const Array<double>& got, const Array<double>& want, const std::string& what) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        const double g = got.data()[i], w = want.data()[i];
        INFO(what << " element " << i << ": tapegrad " << g << ", PyTorch " << w);
        if (std::isnan(w)) {
            CHECK(std::isnan(g));
        } else if (std::isinf(w)) {
            CHECK(g == w);
        } else {
            CHECK(std::abs(g - w) <= 1e-12 * std::max(1.0, std::abs(w)));
        }
    }
}

using Unary = std::function<Tensor<double>(const Tensor<double>&)>;
using Binary = std::function<Tensor<double>(const Tensor<double>&, const Tensor<double>&)>;

const std::map<std::string, Unary>& unary_cases() {
    static const std::map<std::string, Unary> cases{
        {"softmax", [](const auto& a) { return tg::softmax(a, 1); }},
        {"logsumexp", [](const auto& a) { return tg::logsumexp(a, {1}); }},
        {"logsumexp_keep", [](const auto& a) { return tg::logsumexp(a, {0}, true); }},
        {"amax", [](const auto& a) { return tg::amax(a, {1}); }},
        {"amin_keep", [](const auto& a) { return tg::amin(a, {0}, true); }},
        {"max_all", [](const auto& a) { return tg::max(a); }},
        {"amax_nan", [](const auto& a) { return tg::amax(a, {1}); }},
        {"var0", [](const auto& a) { return tg::var(a, {0}, 0); }},
        {"var1", [](const auto& a) { return tg::var(a, {0}, 1); }},
        {"var_all", [](const auto& a) { return tg::var(a); }},
        {"std0", [](const auto& a) { return tg::std(a, {0}, 0); }},
        {"std1_keep", [](const auto& a) { return tg::std(a, {1}, 1, true); }},
        {"clamp", [](const auto& a) { return tg::clamp(a, -0.5, 0.5); }},
        {"clamp_min", [](const auto& a) { return tg::clamp(a, 0.0); }},
    };
    return cases;
}

}  // namespace

TEST_CASE("the new reductions and choices give PyTorch's values and gradients, ties, NaN and infinities included") {
    for (const auto& [name, f] : unary_cases()) {
        SUBCASE(name.c_str()) {
            Tensor<double> a(load(name + ".a"), true);
            Tensor<double> y = f(a);
            y.backward(load(name + ".g"));
            same(y.value(), load(name + ".y"), name + " value");
            same(a.grad(), load(name + ".da"), name + " gradient");
        }
    }
    const std::map<std::string, Binary> binary{
        {"maximum", [](const auto& a, const auto& b) { return tg::maximum(a, b); }},
        {"minimum", [](const auto& a, const auto& b) { return tg::minimum(a, b); }},
        {"where",
         [](const auto& a, const auto& b) {
             const Array<bool> cond = xt::cast<bool>(load("where.cond"));
             return tg::where(cond, a, b);
         }},
    };
    for (const auto& [name, f] : binary) {
        SUBCASE(name.c_str()) {
            Tensor<double> a(load(name + ".a"), true);
            Tensor<double> b(load(name + ".b"), true);
            Tensor<double> y = f(a, b);
            y.backward(load(name + ".g"));
            same(y.value(), load(name + ".y"), name + " value");
            same(a.grad(), load(name + ".da"), name + " gradient of a");
            same(b.grad(), load(name + ".db"), name + " gradient of b");  // summed over the broadcast rows
        }
    }
}

TEST_CASE("every new op passes gradcheck away from its kinks") {
    const Tensor<double> x = random_tensor({4, 3}, 11, -2.0, 2.0);
    const Tensor<double> row = random_tensor({3}, 12, -2.0, 2.0);
    const Array<bool> cond = {{true, false, true}, {false, false, true}, {true, true, false}, {false, true, true}};
    const std::map<std::string, tg::GradcheckFn> fns{
        {"softmax", [](const auto& in) { return tg::softmax(in[0], 0); }},
        {"logsumexp", [](const auto& in) { return tg::logsumexp(in[0], {0, 1}); }},
        {"amax", [](const auto& in) { return tg::amax(in[0], {1}, true); }},
        {"amin", [](const auto& in) { return tg::amin(in[0], {0}); }},
        {"var", [](const auto& in) { return tg::var(in[0], {0}, 1); }},
        {"std", [](const auto& in) { return tg::std(in[0], {1}, 0); }},
        {"clamp", [](const auto& in) { return tg::clamp(in[0], -1.0, 1.0); }},
        {"maximum", [](const auto& in) { return tg::maximum(in[0], in[1]); }},
        {"minimum", [](const auto& in) { return tg::minimum(in[0], in[1]); }},
        {"where", [cond](const auto& in) { return tg::where(cond, in[0], in[1]); }},
    };
    for (const auto& [name, f] : fns) {
        CAPTURE(name);
        check_gradients(f, {x.detach().set_requires_grad(), row.detach().set_requires_grad()});
    }
}

TEST_CASE("the new ops refuse what has no answer, with the op and the shapes") {
    const Tensor<double> empty = Tensor<double>::zeros({0, 3}, true);
    CHECK(has(message_of<tg::ValueError>([&] { tg::amax(empty, {0}); }), "amax: the reduced axes of a tensor of shape [0, 3] hold no element"));
    CHECK(has(message_of<tg::ShapeError>([&] { tg::softmax(Tensor<double>::zeros({2, 3}), 2); }), "softmax: axis 2 is out of range"));
    CHECK(has(message_of<tg::ShapeError>([&] { tg::maximum(Tensor<double>::zeros({2, 3}), Tensor<double>::zeros({2})); }),
              "maximum: shapes cannot be broadcast together"));
}
