// How arrays are shown: in full when small, summarised (shape, min, max, mean, norm) otherwise.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "core/tensor.hpp"

namespace tg::see {

struct Summary {
    double min = 0, max = 0, mean = 0, norm = 0;
};

template <class T>
Summary summarise(const Array<T>& a);

// "[[1.5, -2], [0.25, 3]]" when a has at most max_values elements, otherwise
// "[64, 32] min -2.1 max 3.4 mean 0.01 norm 12.5".
template <class T>
std::string show(const Array<T>& a, std::size_t max_values);

// {"shape": [...], "values": [...]} (row-major) or {"shape": [...], "summary": {...}}.
template <class T>
nlohmann::json to_json(const Array<T>& a, std::size_t max_values);

// Text broken at spaces into lines of at most `width` characters (a longer word stays whole), each
// ending in a newline: the reports' notes in the terminal.
std::string wrapped(const std::string& text, std::size_t width = 110);

}  // namespace tg::see
