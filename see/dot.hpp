// The tape as a Graphviz drawing: one box per tensor (label, shape, and its value and gradient
// when small), one ellipse per op, edges in the direction data flows.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace tg::see {

struct DotOptions {
    bool values = true;          // print values of tensors with at most max_values elements
    bool grads = true;           // print gradients (those kept: leaves, and retain_grad ones)
    std::size_t max_values = 6;
    std::string title;
};

template <class T>
std::string to_dot(const Tensor<T>& root, const DotOptions& options = {});

struct Rendered {
    std::string dot_path;
    std::vector<std::string> files;  // the rendered images
    std::string note;                // empty, or how to render by hand when Graphviz is missing
};

// Writes `<base>.dot` and, with Graphviz's `dot` on the PATH, `<base>.<format>` for each format
// ("svg", "png"). Throws IoError if a file cannot be written or dot fails.
Rendered render_dot(const std::string& dot_text, const std::string& base,
                    const std::vector<std::string>& formats = {"svg", "png"});

// A tensor's box as a Graphviz HTML-like label: `head` (HTML-like text), then value and gradient side
// by side, a 2-D array one row per line. An array of at most max_values elements is shown in full; a
// larger one is summarised (shape, min, max, mean, norm) with summarise_large, left out otherwise.
template <class T>
std::string box_label(const std::string& head, const Array<T>* value, const Array<T>* grad, std::size_t max_values,
                      bool summarise_large);

// Whether Graphviz's `dot` can be run.
bool have_graphviz();

// Text made safe inside a double-quoted DOT string.
std::string dot_escape(const std::string& s);

}  // namespace tg::see
