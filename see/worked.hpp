// A backward step's rule filled in with the step's own numbers for one element, so that the chain
// rule is seen rather than named:
//   dL/dxc[0, 1] = dL/dxhat[0, 1] / std[1] = 0.9913 / 0.6011 = 1.649
// Where the receiving input was broadcast (or reduced over), its element gathers several terms:
//   dL/dstd[1] = sum_i -dL/dxhat[i, 1] * xc[i, 1] / std[1]^2 = -0.9913 * 0.4642 / 0.6011^2 + ... = -1.822
// Numbers are shown to 4 significant digits, as the terminal shows them.
#pragma once

#include <optional>
#include <string>

#include "see/trace.hpp"

namespace tg::see {

struct WorkedElement {
    std::string index;  // "[0, 1]"
    std::string text;   // the line above
    double value = 0;   // the sum of the terms, computed from the numbers shown (in double)
};

// The element worked out: the receiver's second element (its first when it has one), or nothing for
// an op whose rule is not spelled out element by element here (the step then shows the rule alone).
// Spelled out: add, sub, mul, div, pow, sqrt, exp, log, tanh, sigmoid, relu, neg, mean, sum, reshape
// and 2-D matmul.
template <class T>
std::optional<WorkedElement> worked_element(const Trace<T>& trace, const TraceStep<T>& step, const Contribution<T>& sent);

}  // namespace tg::see
