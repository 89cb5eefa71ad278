#include "see/textbook.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "ops/broadcast.hpp"
#include "see/values.hpp"

namespace tg::see {

template <class T>
std::vector<TextbookLine<T>> textbook_lines(const Trace<T>& trace, NormKind kind) {
    auto need = [](const auto* p, const std::string& what) {
        if (!p) {
            throw GraphError(fmt::format(
                "textbook: the trace has no {}; it reads a composite normalisation (batch norm in training mode, "
                "layer or group norm) whose input is named X",
                what));
        }
        return p;
    };
    // Group norm's composite normalises x_groups (X reshaped to one row per sample and group) into
    // xhat_groups, reshaped back to xhat; batch and layer norm normalise X itself. dL/dxhat is read
    // in X's shape, the steps between x_groups and xhat_groups in theirs.
    const bool grouped = trace.step("xhat_groups") != nullptr;
    const std::string in = grouped ? "x_groups" : "X";
    const std::string xhat_name = grouped ? "xhat_groups" : "xhat";
    auto upstream = [&](const std::string& name) { return need(trace.step(name), "step for " + name)->upstream; };
    // The squaring node is unnamed: find the pow step that sends to xc.
    std::string square;
    for (const auto& s : trace.steps) {
        if (s.op == "pow" && trace.contribution(s.output, "xc")) {
            square = s.output;
        }
    }
    const Array<T> from_xhat = need(trace.contribution(xhat_name, "xc"), "contribution from xhat to xc")->grad;
    const Array<T> from_sigma2 = need(trace.contribution(square, "xc"), "contribution from sigma2 to xc")->grad;
    const Array<T> dmu = upstream("mu");
    const Shape mu_shape = dmu.shape();

    // Where each value comes from: steps are numbered as the trace prints them.
    auto step_of = [&](const std::string& name) {
        for (std::size_t k = 0; k < trace.steps.size(); ++k) {
            if (trace.steps[k].output == name) {
                return fmt::format("step [{}] ({} = {})", k + 1, name, trace.steps[k].expression);
            }
        }
        return std::string("no step");
    };
    auto received = [&](const std::string& name) { return fmt::format("what {} receives: the upstream gradient of {}", name, step_of(name)); };
    const std::string via_xc = fmt::format("; {} passes it on to {} unchanged", step_of("xc"), in);
    // where the parameters' sums run: over each set for batch norm, across the sets for the others
    const char* beta_sum = kind == NormKind::batch ? "sum_i dL/dy_i"
                           : kind == NormKind::layer ? "sum over the samples of dL/dy (not over i)"
                                                     : "sum over the samples and positions of dL/dy, per channel";
    const char* gamma_sum = kind == NormKind::batch ? "sum_i dL/dy_i * xhat_i"
                            : kind == NormKind::layer ? "sum over the samples of dL/dy * xhat (not over i)"
                                                      : "sum over the samples and positions of dL/dy * xhat, per channel";

    std::vector<TextbookLine<T>> lines;
    const auto* gamma = trace.leaf("gamma");
    if (const auto* y = trace.step("y")) {
        lines.push_back({"dL/dy", "given: the upstream gradient", y->upstream,
                         fmt::format("the seed the engine starts from: the upstream gradient of {}", step_of("y"))});
    }
    if (const auto* g = trace.leaf("beta")) {
        lines.push_back({"dL/dbeta", beta_sum, *g, fmt::format("beta's gradient, from {}", step_of("y"))});
    }
    std::string scaler;  // the step that sends to gamma: the mul that scales xhat
    for (const auto& st : trace.steps) {
        for (const auto& c : st.sent) {
            if (c.to == "gamma") {
                scaler = st.output;
            }
        }
    }
    if (gamma) {
        lines.push_back({"dL/dgamma", gamma_sum, *gamma, fmt::format("gamma's gradient, from {}, the mul that scales xhat",
                                                                     step_of(scaler))});
    }
    lines.push_back({"dL/dxhat", gamma ? "dL/dy * gamma" : "dL/dy (no gamma and beta: xhat is the output)", upstream("xhat"),
                     received("xhat")});
    lines.push_back({"dL/dstd", "-sum_i dL/dxhat_i * xc_i / std^2", upstream("std"),
                     received("std") + "; the derivation folds this step into the next"});
    lines.push_back({"dL/dsigma2", "dL/dstd / (2 std) = -1/2 sum_i dL/dxhat_i (x_i - mu) (sigma2 + eps)^(-3/2)",
                     upstream("sigma2"),
                     received("sigma2") + ", passed through the add of eps (d(sigma2 + eps)/dsigma2 = 1)"});
    lines.push_back({"dL/dmu from xhat", "-sum_i dL/dxhat_i / std", sum_to_shape<T>(Array<T>(-from_xhat), mu_shape),
                     fmt::format("the part of dL/dxc that {} sends, summed over each set and negated by {}", step_of(xhat_name),
                                 step_of("xc"))});
    lines.push_back({"dL/dmu from sigma2", "dL/dsigma2 * (-2/N) sum_i (x_i - mu)   (= 0: the deviations sum to 0)",
                     sum_to_shape<T>(Array<T>(-from_sigma2), mu_shape),
                     fmt::format("the part of dL/dxc that {} sends, summed over each set and negated by {}", step_of(square),
                                 step_of("xc"))});
    lines.push_back({"dL/dmu", "the sum of both", dmu, received("mu")});
    lines.push_back({"dL/dX from xhat", "dL/dxhat / std", from_xhat,
                     fmt::format("the part of dL/dxc that {} sends{}", step_of(xhat_name), via_xc)});
    lines.push_back({"dL/dX from sigma2", "dL/dsigma2 * 2 (x - mu) / N", from_sigma2,
                     fmt::format("the part of dL/dxc that {} sends{}", step_of(square), via_xc)});
    lines.push_back({"dL/dX from mu", "dL/dmu / N",
                     need(trace.contribution("mu", in), "contribution from mu to " + in)->grad,
                     fmt::format("what {} sends to {}", step_of("mu"), in)});
    lines.push_back({"dL/dX", "the sum of the three", *need(trace.leaf("X"), "leaf X"),
                     grouped ? fmt::format("X's gradient: the engine adds the three contributions into x_groups' gradient "
                                           "(the last from {}) and the reshape hands it back in X's shape",
                                           step_of("mu"))
                             : fmt::format("X's gradient: the engine adds the three contributions, the last from {}",
                                           step_of("mu"))});
    // The step each line is read from, for pages that link a line to its step.
    auto index_of = [&](const std::string& name) {
        for (std::size_t k = 0; k < trace.steps.size(); ++k) {
            if (trace.steps[k].output == name) {
                return static_cast<int>(k);
            }
        }
        return -1;
    };
    const std::map<std::string, std::string> read_at{
        {"dL/dy", "y"},          {"dL/dbeta", "y"},          {"dL/dgamma", scaler},
        {"dL/dxhat", "xhat"},    {"dL/dstd", "std"},         {"dL/dsigma2", "sigma2"},
        {"dL/dmu from xhat", xhat_name}, {"dL/dmu from sigma2", square}, {"dL/dmu", "mu"},
        {"dL/dX from xhat", xhat_name},  {"dL/dX from sigma2", square},  {"dL/dX from mu", "mu"},
        {"dL/dX", "mu"}};
    for (auto& l : lines) {
        l.step = index_of(read_at.at(l.quantity));
    }
    // One shape convention: a per-feature quantity is shown as [C] whatever the input's rank (the
    // composite graph keeps them as [1, C, 1, 1] for 4-D input, to broadcast).
    const auto* x_grad = need(trace.leaf("X"), "leaf X");
    if (kind == NormKind::batch && x_grad->dimension() > 2) {
        const std::size_t channels = x_grad->shape()[1];
        for (auto& l : lines) {
            if (l.value.size() == channels && l.value.dimension() > 1) {
                l.value.reshape({channels});
            }
        }
    }
    return lines;
}

namespace {

// dL/dy is the case's given data: shown in full (up to full_given values) whatever --max-values is,
// so that every other line can be redone by hand from it.
constexpr std::size_t full_given = 4096;

template <class T>
std::size_t shown(const TextbookLine<T>& l, std::size_t max_values) {
    return l.quantity == "dL/dy" ? std::max(max_values, full_given) : max_values;
}

}  // namespace

template <class T>
std::string textbook_text(const std::vector<TextbookLine<T>>& lines, std::size_t max_values) {
    std::size_t w = 0, f = 0;
    for (const auto& l : lines) {
        w = std::max(w, l.quantity.size());
        f = std::min<std::size_t>(std::max(f, l.formula.size()), 44);
    }
    std::string out = "The backward pass in the textbook's notation (values from the trace; steps numbered as it numbers them):\n";
    for (const auto& l : lines) {
        out += fmt::format("  {:<{}}  {}\n  {:<{}}  = {}\n", l.quantity, w, l.formula, "", w, show(l.value, shown(l, max_values)));
        if (!l.source.empty()) {
            out += fmt::format("  {:<{}}  from {}\n", "", w, l.source);
        }
    }
    return out;
}

template <class T>
std::string textbook_markdown(const std::vector<TextbookLine<T>>& lines, std::size_t max_values) {
    std::string out = "| quantity | formula | value | from |\n|---|---|---|---|\n";
    for (const auto& l : lines) {
        out += fmt::format("| {} | `{}` | `{}` | {} |\n", l.quantity, l.formula, show(l.value, shown(l, max_values)), l.source);
    }
    return out;
}

template <class T>
nlohmann::json textbook_json(const std::vector<TextbookLine<T>>& lines, std::size_t max_values) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& l : lines) {
        j.push_back({{"quantity", l.quantity}, {"formula", l.formula}, {"value", to_json(l.value, max_values)}, {"source", l.source}});
    }
    return j;
}

#define TG_INSTANTIATE(T)                                                                            \
    template std::vector<TextbookLine<T>> textbook_lines(const Trace<T>&, NormKind);                       \
    template std::string textbook_text(const std::vector<TextbookLine<T>>&, std::size_t);            \
    template std::string textbook_markdown(const std::vector<TextbookLine<T>>&, std::size_t);        \
    template nlohmann::json textbook_json(const std::vector<TextbookLine<T>>&, std::size_t);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg::see
