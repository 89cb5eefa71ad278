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
    return tg::io::load_npy<double>((fs::path(TAPEGRAD_FIXTURES) / "ops" / (name + ".npy")).string());
}

// NaN where PyTorch has NaN, the same infinity, finite values within 1e-12 relative (of at least 1).
void same(const Array<double>& got, const Array<double>& want, const std::string& what) {
    check_like_pytorch(got, want, what, 1e-12, 0.0, 1.0);
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
        {"take_rows", [](const auto& a) { return tg::take_rows(a, tg::Array<std::int64_t>{{0, 2}, {2, 4}, {1, 1}}); }},
        {"index_select1", [](const auto& a) { return tg::index_select(a, 1, {3, 0, 3}); }},
        {"pick", [](const auto& a) { return tg::pick(a, {1, 3, 1}); }},
        {"expand", [](const auto& a) { return tg::expand(a, {3, 5}); }},
        {"transpose3", [](const auto& a) { return tg::transpose(a, 0, 2); }},
        {"flatten", [](const auto& a) { return tg::flatten(a, 1, 2); }},
        {"nll_weighted",
         [](const auto& a) {
             tg::NllOptions o;
             o.weight = {1.0, 2.0, 0.5, 3.0};
             return tg::nll_loss(a, {0, 3, -100, 1, 3}, o);
         }},
        {"nll_sum",
         [](const auto& a) {
             tg::NllOptions o;
             o.reduction = tg::Reduction::sum;
             return tg::nll_loss(a, {0, 3, -100, 1, 3}, o);
         }},
        {"nll_none",
         [](const auto& a) {
             tg::NllOptions o;
             o.reduction = tg::Reduction::none;
             o.weight = {1.0, 2.0, 0.5, 3.0};
             return tg::nll_loss(a, {0, 3, -100, 1, 3}, o);
         }},
        {"cross_entropy_ignore",
         [](const auto& a) {
             tg::NllOptions o;
             o.ignore_index = 2;
             return tg::nn::cross_entropy(a, {2, 0, 2}, o);
         }},
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
        {"cat", [](const auto& a, const auto& b) { return tg::cat<double>({a, b}, 0); }},
        {"stack", [](const auto& a, const auto& b) { return tg::stack<double>({a, b}, 1); }},
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
        const auto op = name;
        CAPTURE(op);
        check_gradients(f, {x.detach().set_requires_grad(), row.detach().set_requires_grad()});
    }
}

TEST_CASE("shape and indexing ops pass gradcheck; a row picked twice gets both gradients") {
    const Tensor<double> table = random_tensor({5, 3}, 21);
    const tg::Array<std::int64_t> rows = {{4, 1, 4}, {0, 4, 2}};  // row 4 three times
    check_gradients([rows](const auto& in) { return tg::take_rows(in[0], rows); }, {table.detach().set_requires_grad()});
    Tensor<double> t = table.detach().set_requires_grad();
    tg::sum(tg::take_rows(t, rows)).backward();
    CHECK(t.grad()(4, 0) == 3.0);
    CHECK(t.grad()(3, 0) == 0.0);
    const Tensor<double> x = random_tensor({2, 3, 4}, 22);
    check_gradients([](const auto& in) { return tg::transpose(tg::flatten(in[0], 0, 1), 0, 1); }, {x.detach().set_requires_grad()});
    check_gradients([](const auto& in) { return tg::stack<double>({tg::squeeze(tg::unsqueeze(in[0], 1), 1), in[0]}, 0); },
                    {x.detach().set_requires_grad()});
    check_gradients([](const auto& in) { return tg::pick(tg::log_softmax(in[0], 1), {0, 2, 1, 1}); },
                    {random_tensor({4, 3}, 23).detach().set_requires_grad()});
}

TEST_CASE("the new ops refuse what has no answer, with the op and the shapes") {
    CHECK(has(message_of<tg::ValueError>([] { tg::take_rows(Tensor<double>::zeros({3, 2}), tg::Array<std::int64_t>{0, 3}); }),
              "take_rows: index 3 (at position 1) is outside the table's 3 rows"));
    CHECK(has(message_of<tg::ShapeError>([] { tg::squeeze(Tensor<double>::zeros({3, 2}), 0); }), "squeeze: axis 0 of [3, 2] has size 3"));
    CHECK(has(message_of<tg::ShapeError>([] { tg::cat<double>({Tensor<double>::zeros({3, 2}), Tensor<double>::zeros({3, 3})}, 0); }),
              "cat: tensor 1 is [3, 3], tensor 0 is [3, 2]"));
    CHECK(has(message_of<tg::ShapeError>([] { tg::expand(Tensor<double>::zeros({3, 2}), {3, 4}); }), "expand"));
    CHECK(has(message_of<tg::ShapeError>([] {
                  tg::NllOptions o;
                  o.weight = {1.0};
                  tg::nll_loss(Tensor<double>::zeros({2, 3}), {0, 1}, o);
              }),
              "nll_loss: expected one weight per class, 3; got 1"));
    const Tensor<double> empty = Tensor<double>::zeros({0, 3}, true);
    CHECK(has(message_of<tg::ValueError>([&] { tg::amax(empty, {0}); }), "amax: the reduced axes of a tensor of shape [0, 3] hold no element"));
    CHECK(has(message_of<tg::ShapeError>([&] { tg::softmax(Tensor<double>::zeros({2, 3}), 2); }), "softmax: axis 2 is out of range"));
    CHECK(has(message_of<tg::ShapeError>([&] { tg::maximum(Tensor<double>::zeros({2, 3}), Tensor<double>::zeros({2})); }),
              "maximum: shapes cannot be broadcast together"));
}

TEST_CASE("matmul follows NumPy: 1-D operands and broadcast batch dimensions, against PyTorch") {
    SUBCASE("the fixtures") {
        for (const char* name : {"matmul_vec_mat", "matmul_mat_vec", "matmul_dot", "matmul_broadcast"}) {
            CAPTURE(name);
            Tensor<double> a(load(std::string(name) + ".a"), true);
            Tensor<double> b(load(std::string(name) + ".b"), true);
            Tensor<double> y = tg::matmul(a, b);
            y.backward(load(std::string(name) + ".g"));
            same(y.value(), load(std::string(name) + ".y"), "value");
            same(a.grad(), load(std::string(name) + ".da"), "gradient of a");
            same(b.grad(), load(std::string(name) + ".db"), "gradient of b");
        }
    }
    SUBCASE("gradcheck") {
        check_gradients([](const auto& in) { return tg::matmul(in[0], in[1]); },
                        {random_tensor({2, 1, 3, 4}, 31), random_tensor({5, 4, 2}, 32)});
        check_gradients([](const auto& in) { return tg::matmul(in[0], in[1]); }, {random_tensor({4}, 33), random_tensor({3, 4, 2}, 34)});
    }
    SUBCASE("errors name both shapes") {
        CHECK(has(message_of<tg::ShapeError>([] { tg::matmul(Tensor<double>::zeros({2, 3, 4}), Tensor<double>::zeros({3, 4, 5})); }),
                  "matmul: batch dimensions cannot be broadcast: a is [2, 3, 4], b is [3, 4, 5]"));
        CHECK(has(message_of<tg::ShapeError>([] { tg::matmul(Tensor<double>::zeros({3}), Tensor<double>::zeros({4})); }),
                  "matmul: inner dimensions differ: a is [3], b is [4]"));
    }
}

TEST_CASE("the new ops on tensors with a zero-size dimension: PyTorch's answers, no crash") {
    Tensor<double> e = Tensor<double>::zeros({0, 3}, true);
    CHECK(tg::softmax(e, 1).shape() == tg::Shape{0, 3});
    CHECK(tg::amax(e, {1}).shape() == tg::Shape{0});  // nothing to reduce in no rows: an empty result
    const Tensor<double> lse = tg::logsumexp(e, {0});  // log(sum of nothing) = log 0
    CHECK(lse.shape() == tg::Shape{3});
    CHECK(std::isinf(lse.value()(0)));
    CHECK(std::isnan(tg::var(e, {0}, 0).value()(0)));  // 0/0
    CHECK(tg::var(e, {1}).shape() == tg::Shape{0});
    CHECK(tg::std(e, {1}).shape() == tg::Shape{0});
    CHECK(tg::clamp(e, 0.0, 1.0).shape() == tg::Shape{0, 3});
    CHECK(tg::maximum(e, Tensor<double>::ones({3})).shape() == tg::Shape{0, 3});
    CHECK(tg::where(Array<bool>(xt::zeros<bool>({0, 3})), e, e).shape() == tg::Shape{0, 3});
    CHECK(tg::take_rows(Tensor<double>::ones({4, 2}, true), tg::Array<std::int64_t>(xt::zeros<std::int64_t>({0}))).shape() ==
          tg::Shape{0, 2});
    CHECK(tg::cat<double>({e, Tensor<double>::ones({2, 3})}, 0).shape() == tg::Shape{2, 3});
    CHECK(tg::pick(e, {}).shape() == tg::Shape{0});
    CHECK(std::isnan(tg::nll_loss(e, {}).item()));  // the mean of no rows
    Tensor<double> s = tg::sum(tg::softmax(e, 1)) + tg::sum(tg::var(e, {1})) + tg::sum(tg::clamp(e, 0.0, 1.0));
    s.backward();
    CHECK(e.grad().shape() == std::vector<std::size_t>{0, 3});
}
