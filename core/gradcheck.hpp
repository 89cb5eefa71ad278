// gradcheck: compares the engine's gradients with central differences, in double precision.
//
// The loss it differentiates is L = sum(u * f(inputs)) for a fixed random upstream gradient u:
// an all-ones u would let some wrong backward formulas pass (in batch norm, sum(dy) terms vanish
// exactly when dy is constant), so u is non-uniform on purpose.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace tg {

struct GradcheckOptions {
    double eps = 1e-6;    // the central-difference step
    double atol = 1e-5;   // an element passes if |analytic - numeric| <= atol + rtol * |numeric|
    double rtol = 1e-3;   // (the defaults are PyTorch's)
    unsigned seed = 0;    // for the upstream gradient u
};

// How the analytic and numerical gradients of one input compare.
struct GradcheckInput {
    std::size_t index = 0;   // position in the inputs list
    std::string name;        // the tensor's name, if it has one
    double max_abs_err = 0;  // max |a - n|
    double max_rel_err = 0;  // max |a - n| / max(|a|, |n|), 0 where both are 0
    double rel_error = 0;    // cs231n: max |a - n| / max(1e-8, |a| + |n|)
    bool ok = true;
};

struct GradcheckResult {
    bool ok = true;
    std::vector<GradcheckInput> inputs;  // one per input that requires a gradient
    std::string summary() const;         // one line per input, for test failures and lessons
};

using GradcheckFn = std::function<Tensor<double>(const std::vector<Tensor<double>>&)>;

// Checks every input that requires a gradient. The inputs' values are restored afterwards and
// their .grad is left as the analytic gradient.
GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor<double>>& inputs,
                          GradcheckOptions options = {});

// Second derivatives, as PyTorch's gradgradcheck: for a fixed random v (seeded like u, one value
// per element of f's output), the first derivatives d<v, f>/d(input), computed by tg::grad with
// create_graph, are themselves a function of the inputs and v, and gradcheck checks that function
// (its analytic gradient is the engine's backward through the backward). Reported per input,
// then v last. The same defaults as gradcheck.
GradcheckResult gradgradcheck(const GradcheckFn& f, const std::vector<Tensor<double>>& inputs,
                              GradcheckOptions options = {});

}  // namespace tg
