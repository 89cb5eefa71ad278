// Grading a learner's own backward pass, quantity by quantity, the way makemore's cmp() does:
// every file the learner wrote (<name>.npy) is compared with the value the engine computed for
// the same step, in backward order, and the first wrong quantity is explained: its formula, the
// quantities it is built from and whether those were right, and the numbers side by side.
//
// The mechanism is general: named_quantities() turns any graph whose tensors have names into a
// list of quantities (each named tensor's value as <name>.npy, its gradient as d<name>.npy);
// batch norm's derivation adds the quantities that are parts of a sum (dL/dmu from xhat, ...)
// and known mistakes with their hints (grade/exercise.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace tg::grade {

// One quantity a learner can hand in, and what the engine says it is.
struct Quantity {
    std::string file;      // the learner's file without ".npy": "dsigma2"
    std::string symbol;    // in the derivation's notation: "dL/dsigma2"
    std::string formula;   // "-1/2 sum_i dL/dxhat_i (x_i - mu) (sigma2 + eps)^(-3/2)"
    std::string source;    // where the engine computes it: "step [4]: what sigma2's node receives"
    std::vector<std::string> from;  // files of the quantities it is built from
    std::string node;      // the graph's tensor it belongs to, to mark on a page ("sigma2" for dsigma2)
    Array<double> expected;
    bool forward = false;
    // Wrong answers learners give, each with what went wrong ("sigma2 where sigma2 + eps belongs").
    std::vector<std::pair<std::string, Array<double>>> mistakes;
};

enum class Status { exact, close, wrong, not_given };
const char* to_string(Status s);

struct CheckRow {
    std::string file;
    std::string symbol;
    bool forward = false;
    Status status = Status::not_given;
    double max_abs = 0;  // max |yours - expected|
    double max_rel = 0;  // max_abs / max |expected|
    Shape expected_shape;
    std::optional<Shape> given_shape;
    std::string problem;  // why the file could not be compared, or what is wrong with it
    std::string hint;     // a likely cause, where one is recognised
};

// One element where the learner's value and the engine's differ.
struct Sample {
    std::string index;  // "[2, 1]"
    double expected = 0;
    double given = 0;
};

struct CheckResult {
    std::vector<CheckRow> rows;  // forward quantities first, then backward ones in backward order
    std::optional<std::size_t> first_wrong;  // index into rows
    std::string explanation;                 // the paragraph about the first wrong quantity
    std::vector<Sample> samples;             // its first differing elements
    bool ok() const { return !first_wrong; }
    std::size_t count(Status s) const;
};

struct CheckOptions {
    double rtol = 1e-9;  // close: |yours - expected| <= atol + rtol * |expected|, element by element
    double atol = 1e-12;
    std::size_t batch = 0;  // N, for hints about 1/N and N - 1 (0: none)
};

// Reads <dir>/<file>.npy for each quantity (absent: "not given"; unreadable, of another dtype than
// float64, holding NaN or of a shape the quantity cannot have: one row saying so) and grades it.
CheckResult check_gradients(const std::vector<Quantity>& quantities, const std::string& dir, CheckOptions options = {});

// Every named tensor of the graph below root: its value (<name>.npy, forward) and its gradient
// (d<name>.npy), after backward from root with `seed` (empty for a one-element root). The
// gradients come out in the order the engine produces them.
template <class T>
std::vector<Quantity> named_quantities(const Tensor<T>& root, const std::optional<Array<T>>& seed = std::nullopt);

std::string check_text(const CheckResult& r, const std::vector<Quantity>& quantities);
std::string check_markdown(const CheckResult& r, const std::vector<Quantity>& quantities);
std::string check_html(const CheckResult& r, const std::vector<Quantity>& quantities);  // for the step-through page
nlohmann::json check_json(const CheckResult& r, const std::vector<Quantity>& quantities);

}  // namespace tg::grade
