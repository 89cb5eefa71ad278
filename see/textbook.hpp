// A composite normalisation's backward trace, read the way the textbook derivation is written:
// dL/dgamma, dL/dbeta, dL/dxhat, dL/dsigma2, dL/dmu from xhat and from sigma2, dL/dX from xhat,
// from sigma2 and from mu, and the total. Every value is one the engine computed (or, for the
// split of dL/dmu, a sum of them).
#pragma once

#include <string>
#include <vector>

#include "see/norm_case.hpp"
#include "see/trace.hpp"

namespace tg::see {

template <class T>
struct TextbookLine {
    std::string quantity;  // "dL/dmu from sigma2"
    std::string formula;   // "dL/dsigma2 * (-2/N) * sum_i (x_i - mu)   (= 0)"
    Array<T> value;
    std::string source;    // the engine step it comes from: "step [4] sends it to xc, ..."
    int step = -1;         // that step's position in Trace::steps (-1: the seed)
};

// Needs a composite normalisation whose input is named "X" (batch norm in training mode, layer
// norm, or group norm); kind says where the parameters' sums run. Throws GraphError naming what
// is missing otherwise.
template <class T>
std::vector<TextbookLine<T>> textbook_lines(const Trace<T>& trace, NormKind kind = NormKind::batch);

template <class T>
std::string textbook_text(const std::vector<TextbookLine<T>>& lines, std::size_t max_values = 12);
template <class T>
std::string textbook_markdown(const std::vector<TextbookLine<T>>& lines, std::size_t max_values = 12);
template <class T>
nlohmann::json textbook_json(const std::vector<TextbookLine<T>>& lines, std::size_t max_values = 12);

}  // namespace tg::see
