// Every op's table of cases, in one place: each case is recorded from PyTorch 1.13 (values and
// gradients for a given upstream, saved once by tests/fixtures/make_op_fixtures.py: ties,
// infinities, NaN, constant slices, broadcasting), or checked by central differences (gradcheck),
// or both. A new op's tests are a new entry of op_table(), with its fixtures added to the script;
// what a row cannot say (errors, tensors with a zero-size dimension) follows the table.
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

Array<double> load_op_fixture(const std::string& name) {
    return tg::io::load_npy<double>((fs::path(TAPEGRAD_FIXTURES) / "ops" / (name + ".npy")).string());
}

bool has_op_fixture(const std::string& name) { return fs::exists(fs::path(TAPEGRAD_FIXTURES) / "ops" / (name + ".npy")); }

// NaN where PyTorch has NaN, the same infinity, finite values within 1e-12 relative (of at least 1).
void same_as_pytorch(const Array<double>& got, const Array<double>& want, const std::string& what) {
    check_like_pytorch(got, want, what, 1e-12, 0.0, 1.0);
}

// One case of an op: f of its inputs, run on the PyTorch fixture `fixture` when it names one
// (<fixture>.a.npy, and .b.npy for a second input; .g the upstream gradient; .y, .da, .db
// PyTorch's answers), and through gradcheck on random inputs in [-2, 2] of the shapes `gradcheck`
// lists when it lists any.
struct OpCase {
    std::string fixture;
    tg::GradcheckFn f;
    std::vector<tg::Shape> gradcheck;
};

tg::NllOptions nll_options(tg::Reduction reduction, std::vector<double> weight = {}) {
    tg::NllOptions o;
    o.reduction = reduction;
    o.weight = std::move(weight);
    return o;
}

const std::map<std::string, std::vector<OpCase>>& op_table() {
    using In = std::vector<Tensor<double>>;
    static const Array<bool> cond4x3 = {{true, false, true}, {false, false, true}, {true, true, false}, {false, true, true}};
    static const std::map<std::string, std::vector<OpCase>> table{
        {"softmax",
         {{"softmax", [](const In& in) { return tg::softmax(in[0], 1); }, {}},
          {"", [](const In& in) { return tg::softmax(in[0], 0); }, {{4, 3}}}}},
        {"logsumexp",
         {{"logsumexp", [](const In& in) { return tg::logsumexp(in[0], {1}); }, {}},
          {"logsumexp_keep", [](const In& in) { return tg::logsumexp(in[0], {0}, true); }, {}},
          {"", [](const In& in) { return tg::logsumexp(in[0], {0, 1}); }, {{4, 3}}}}},
        {"amax",
         {{"amax", [](const In& in) { return tg::amax(in[0], {1}); }, {}},
          {"amax_nan", [](const In& in) { return tg::amax(in[0], {1}); }, {}},
          {"", [](const In& in) { return tg::amax(in[0], {1}, true); }, {{4, 3}}}}},
        {"amin",
         {{"amin_keep", [](const In& in) { return tg::amin(in[0], {0}, true); }, {}},
          {"", [](const In& in) { return tg::amin(in[0], {0}); }, {{4, 3}}}}},
        {"max", {{"max_all", [](const In& in) { return tg::max(in[0]); }, {}}}},
        {"var",
         {{"var0", [](const In& in) { return tg::var(in[0], {0}, 0); }, {}},
          {"var1", [](const In& in) { return tg::var(in[0], {0}, 1); }, {{4, 3}}},
          {"var_all", [](const In& in) { return tg::var(in[0]); }, {}}}},
        {"std",
         {{"std0", [](const In& in) { return tg::std(in[0], {0}, 0); }, {}},
          {"std1_keep", [](const In& in) { return tg::std(in[0], {1}, 1, true); }, {}},
          {"", [](const In& in) { return tg::std(in[0], {1}, 0); }, {{4, 3}}}}},
        {"clamp",
         {{"clamp", [](const In& in) { return tg::clamp(in[0], -0.5, 0.5); }, {}},
          {"clamp_min", [](const In& in) { return tg::clamp(in[0], 0.0); }, {}},
          {"", [](const In& in) { return tg::clamp(in[0], -1.0, 1.0); }, {{4, 3}}}}},
        {"maximum", {{"maximum", [](const In& in) { return tg::maximum(in[0], in[1]); }, {{4, 3}, {3}}}}},
        {"minimum", {{"minimum", [](const In& in) { return tg::minimum(in[0], in[1]); }, {{4, 3}, {3}}}}},
        {"where",
         {{"where",
           [](const In& in) { return tg::where(Array<bool>(xt::cast<bool>(load_op_fixture("where.cond"))), in[0], in[1]); },
           {}},
          {"", [](const In& in) { return tg::where(cond4x3, in[0], in[1]); }, {{4, 3}, {3}}}}},
        {"cat", {{"cat", [](const In& in) { return tg::cat<double>({in[0], in[1]}, 0); }, {}}}},
        {"stack", {{"stack", [](const In& in) { return tg::stack<double>({in[0], in[1]}, 1); }, {}}}},
        {"squeeze and unsqueeze",
         {{"", [](const In& in) { return tg::stack<double>({tg::squeeze(tg::unsqueeze(in[0], 1), 1), in[0]}, 0); },
           {{2, 3, 4}}}}},
        {"expand", {{"expand", [](const In& in) { return tg::expand(in[0], {3, 5}); }, {}}}},
        {"transpose", {{"transpose3", [](const In& in) { return tg::transpose(in[0], 0, 2); }, {}}}},
        {"flatten",
         {{"flatten", [](const In& in) { return tg::flatten(in[0], 1, 2); }, {}},
          {"", [](const In& in) { return tg::transpose(tg::flatten(in[0], 0, 1), 0, 1); }, {{2, 3, 4}}}}},
        {"take_rows",
         {{"take_rows", [](const In& in) { return tg::take_rows(in[0], tg::Array<std::int64_t>{{0, 2}, {2, 4}, {1, 1}}); }, {}},
          {"", [](const In& in) { return tg::take_rows(in[0], tg::Array<std::int64_t>{{4, 1, 4}, {0, 4, 2}}); }, {{5, 3}}}}},
        {"index_select", {{"index_select1", [](const In& in) { return tg::index_select(in[0], 1, {3, 0, 3}); }, {}}}},
        {"pick",
         {{"pick", [](const In& in) { return tg::pick(in[0], {1, 3, 1}); }, {}},
          {"", [](const In& in) { return tg::pick(tg::log_softmax(in[0], 1), {0, 2, 1, 1}); }, {{4, 3}}}}},
        {"nll_loss",
         {{"nll_weighted", [](const In& in) { return tg::nll_loss(in[0], {0, 3, -100, 1, 3}, nll_options(tg::Reduction::mean, {1.0, 2.0, 0.5, 3.0})); }, {}},
          {"nll_sum", [](const In& in) { return tg::nll_loss(in[0], {0, 3, -100, 1, 3}, nll_options(tg::Reduction::sum)); }, {}},
          {"nll_none", [](const In& in) { return tg::nll_loss(in[0], {0, 3, -100, 1, 3}, nll_options(tg::Reduction::none, {1.0, 2.0, 0.5, 3.0})); }, {}}}},
        {"cross_entropy",
         {{"cross_entropy_ignore",
           [](const In& in) {
               tg::NllOptions o;
               o.ignore_index = 2;
               return tg::nn::cross_entropy(in[0], {2, 0, 2}, o);
           },
           {}}}},
        {"matmul",
         {{"matmul_vec_mat", [](const In& in) { return tg::matmul(in[0], in[1]); }, {}},
          {"matmul_mat_vec", [](const In& in) { return tg::matmul(in[0], in[1]); }, {}},
          {"matmul_dot", [](const In& in) { return tg::matmul(in[0], in[1]); }, {}},
          {"matmul_broadcast", [](const In& in) { return tg::matmul(in[0], in[1]); }, {{2, 1, 3, 4}, {5, 4, 2}}},
          {"", [](const In& in) { return tg::matmul(in[0], in[1]); }, {{4}, {3, 4, 2}}}}},
    };
    return table;
}

void check_against_fixture(const OpCase& c) {
    const std::string& name = c.fixture;
    std::vector<Tensor<double>> in{Tensor<double>(load_op_fixture(name + ".a"), true)};
    if (has_op_fixture(name + ".b")) {
        in.emplace_back(load_op_fixture(name + ".b"), true);
    }
    Tensor<double> y = c.f(in);
    y.backward(load_op_fixture(name + ".g"));
    same_as_pytorch(y.value(), load_op_fixture(name + ".y"), name + " value");
    same_as_pytorch(in[0].grad(), load_op_fixture(name + ".da"), name + " gradient of a");
    if (in.size() == 2) {
        same_as_pytorch(in[1].grad(), load_op_fixture(name + ".db"), name + " gradient of b");  // summed over broadcast rows
    }
}

}  // namespace

TEST_CASE("every op in the table gives PyTorch's values and gradients, and passes gradcheck away from its kinks") {
    std::size_t fixtures = 0, gradchecks = 0;
    for (const auto& entry : op_table()) {
        const std::string& op = entry.first;
        SUBCASE(op.c_str()) {
            for (const OpCase& c : entry.second) {
                CAPTURE(op);
                CAPTURE(c.fixture);
                if (!c.fixture.empty()) {
                    check_against_fixture(c);
                    ++fixtures;
                }
                if (!c.gradcheck.empty()) {
                    std::vector<Tensor<double>> inputs;
                    for (std::size_t i = 0; i < c.gradcheck.size(); ++i) {
                        inputs.push_back(random_tensor(c.gradcheck[i], 11 + static_cast<unsigned>(i), -2.0, 2.0).set_requires_grad());
                    }
                    check_gradients(c.f, inputs);
                    ++gradchecks;
                }
            }
        }
    }
    CHECK(fixtures + gradchecks > 0);
}

TEST_CASE("a table row picked twice by take_rows gets both gradients") {
    const Tensor<double> table = random_tensor({5, 3}, 21);
    const tg::Array<std::int64_t> rows = {{4, 1, 4}, {0, 4, 2}};  // row 4 three times
    Tensor<double> t = table.detach().set_requires_grad();
    tg::sum(tg::take_rows(t, rows)).backward();
    CHECK(t.grad()(4, 0) == 3.0);
    CHECK(t.grad()(3, 0) == 0.0);
}

TEST_CASE("ops refuse what has no answer, with the op and the shapes") {
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

TEST_CASE("matmul's errors name both shapes") {
    CHECK(has(message_of<tg::ShapeError>([] { tg::matmul(Tensor<double>::zeros({2, 3, 4}), Tensor<double>::zeros({3, 4, 5})); }),
              "matmul: batch dimensions cannot be broadcast: a is [2, 3, 4], b is [3, 4, 5]"));
    CHECK(has(message_of<tg::ShapeError>([] { tg::matmul(Tensor<double>::zeros({3}), Tensor<double>::zeros({4})); }),
              "matmul: inner dimensions differ: a is [3], b is [4]"));
}

TEST_CASE("ops on tensors with a zero-size dimension: PyTorch's answers, no crash") {
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
