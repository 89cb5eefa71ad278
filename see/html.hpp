// A self-contained HTML page to step through a traced graph: the forward pass, then the backward
// pass, one node per step (arrow keys or buttons), the current node highlighted in the graph with
// the edges its gradient travels along, every value and every += in full, the textbook's reading
// linked to the steps, and further tabs (the fused node, the composite-vs-fused report, a graded
// exercise). Graphviz's SVG, the CSS and the JavaScript are inline: the file works from disk with
// no network.
//
// Limits, so that no page freezes a browser: a graph of more than HtmlLimits::max_nodes tensors is
// summarised instead of drawn and walked, and an array of more than max_values elements is shown
// as its shape, min, max, mean and norm.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "see/fused.hpp"
#include "see/textbook.hpp"
#include "see/trace.hpp"

namespace tg::see {

struct HtmlLimits {
    std::size_t max_nodes = 2000;
    std::size_t max_values = 10000;
};

class HtmlPage {
public:
    explicit HtmlPage(std::string title, HtmlLimits limits = {});

    // A tab that walks a trace. `textbook` and `stages`, when given, are listed beside the graph,
    // under `reading` (which values the sums run over: NormCase::reading()); `marked` names tensors
    // to mark in the graph (a graded exercise's first wrong quantity).
    template <class T>
    void add_trace(const std::string& name, const Trace<T>& trace, const std::vector<TextbookLine<T>>& textbook = {},
                   const std::vector<FusedStage<T>>& stages = {}, const std::vector<std::string>& marked = {},
                   const std::string& reading = "");
    // A tab of ready HTML (a report, a graded result).
    void add_html(const std::string& name, const std::string& html);

    std::string str() const;
    void write(const std::string& path) const;  // atomically

private:
    nlohmann::json data_;
    HtmlLimits limits_;
};

// The page for one trace (any graph: the user's own, the exercises, the lessons).
template <class T>
void write_html(const Trace<T>& trace, const std::string& path, const std::string& title = "tapegrad: step through the graph");

// Escapes text for HTML.
std::string html_escape(const std::string& s);

}  // namespace tg::see
