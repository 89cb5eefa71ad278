#include "grade/check.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "io/npy.hpp"
#include "see/tape.hpp"
#include "see/html.hpp"
#include "see/values.hpp"

namespace tg::grade {

const char* to_string(Status s) {
    switch (s) {
        case Status::exact: return "exact";
        case Status::close: return "close";
        case Status::wrong: return "WRONG";
        case Status::not_given: return "not given";
    }
    return "";
}

std::size_t CheckResult::count(Status s) const {
    return static_cast<std::size_t>(std::count_if(rows.begin(), rows.end(), [s](const CheckRow& r) { return r.status == s; }));
}

namespace {

Shape squeezed(const Shape& s) {
    Shape out;
    for (std::size_t d : s) {
        if (d != 1) {
            out.push_back(d);
        }
    }
    return out;
}

bool within(const Array<double>& given, const Array<double>& expected, const CheckOptions& o) {
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const double g = given.data()[i], e = expected.data()[i];
        if (!(std::abs(g - e) <= o.atol + o.rtol * std::abs(e))) {
            return false;
        }
    }
    return true;
}

double max_abs_of(const Array<double>& a) {
    double m = 0;
    for (double v : a) {
        m = std::max(m, std::abs(v));
    }
    return m;
}

std::string index_str(const Shape& shape, std::size_t flat) {
    std::vector<std::size_t> idx(shape.size());
    for (std::size_t k = shape.size(); k-- > 0;) {
        idx[k] = flat % shape[k];
        flat /= shape[k];
    }
    return fmt::format("[{}]", fmt::join(idx, ", "));
}

// Why a shape cannot be the quantity's, with the usual cause.
std::string shape_problem(const Quantity& q, const Shape& given) {
    const Shape want = q.expected.shape();
    const std::string what = q.symbol + " has " +
                             (want.size() == 1 ? fmt::format("one value per feature, {}", shape_str(want))
                                               : fmt::format("shape {}", shape_str(want)));
    std::string hint;
    const Shape w = squeezed(want), g = squeezed(given);
    if (w.size() == 1 && g.size() == 2 && g[1] == w[0]) {
        hint = ": did you forget to sum over the batch?";
    } else if (w.size() == 2 && g.size() == 2 && g[0] == w[1] && g[1] == w[0]) {
        hint = ": that is its transpose; did you swap the axes (a .T too many or too few)?";
    } else if (g.size() == w.size() + 1) {
        hint = ": one axis too many; is a sum missing?";
    } else if (g.size() + 1 == w.size()) {
        hint = ": one axis too few; did you sum over an axis that should stay?";
    } else if (want.size() == given.size()) {
        // kept dimensions, summed over other axes: [1, 3] where [4, 1] belongs
        bool other_axes = want != given;
        for (std::size_t k = 0; k < want.size(); ++k) {
            other_axes = other_axes && (want[k] == given[k] || want[k] == 1 || given[k] == 1);
        }
        if (other_axes) {
            hint = ": summed over other axes than this quantity's (its size-1 axes are the ones its sums run over; "
                   "batch norm sums over the rows, layer norm over each row, group norm over each group)";
        }
    }
    return fmt::format("{}; yours is {}{}", what, shape_str(given), hint);
}

// What a wrong value most likely is: a known mistake, or the right answer times a telling factor.
std::string value_hint(const Quantity& q, const Array<double>& given, const CheckOptions& o) {
    for (const auto& [hint, candidate] : q.mistakes) {
        if (candidate.shape() == given.shape() && within(given, candidate, o)) {
            return hint;
        }
    }
    double ge = 0, ee = 0;
    for (std::size_t i = 0; i < given.size(); ++i) {
        ge += given.data()[i] * q.expected.data()[i];
        ee += q.expected.data()[i] * q.expected.data()[i];
    }
    if (ee == 0) {
        return "";
    }
    const double r = ge / ee;
    double resid = 0;
    for (std::size_t i = 0; i < given.size(); ++i) {
        resid = std::max(resid, std::abs(given.data()[i] - r * q.expected.data()[i]));
    }
    if (resid > 1e-9 * std::max(1.0, max_abs_of(q.expected))) {
        return "";  // not a multiple of the right answer
    }
    auto near = [r](double f) { return std::abs(r - f) <= 1e-9 * std::abs(f); };
    const double n = static_cast<double>(o.batch);
    if (near(-1)) return "yours is the right value with the opposite sign: check the sign of this step";
    if (n > 1 && near(n / (n - 1))) return fmt::format("yours is {} / {} times the right value: N - 1 where N belongs?", n, n - 1);
    if (n > 1 && near((n - 1) / n)) return fmt::format("yours is {} / {} times the right value: N where N - 1 belongs?", n - 1, n);
    if (n > 1 && near(n)) return fmt::format("yours is N = {} times the right value: is a 1/N missing?", n);
    if (n > 1 && near(1 / n)) return fmt::format("yours is 1/N = 1/{} of the right value: a 1/N too many?", n);
    if (near(2)) return "yours is twice the right value: a factor 2 too many (the 2 of d(x^2)/dx, or the 1/2 of the -3/2 power)?";
    if (near(0.5)) return "yours is half the right value: a factor 2 missing (the 2 of d(x^2)/dx, or the 1/2 of the -3/2 power)?";
    return fmt::format("yours is {:.6g} times the right value everywhere: a constant factor is off", r);
}

CheckRow grade(const Quantity& q, const std::string& dir, const CheckOptions& o, Array<double>& given) {
    CheckRow row;
    row.file = q.file + ".npy";
    row.symbol = q.symbol;
    row.forward = q.forward;
    row.expected_shape = q.expected.shape();
    const std::string path = (std::filesystem::path(dir) / row.file).string();
    if (!std::filesystem::exists(path)) {
        return row;
    }
    row.status = Status::wrong;
    try {
        const io::NpyInfo info = io::read_npy_info(path);
        row.given_shape = info.shape;
        if (info.descr != "<f8") {
            row.problem = fmt::format("{} holds {} values; save float64 arrays (NumPy's default, np.float64)", row.file,
                                      io::npy_dtype_name(info.descr));
            return row;
        }
        given = io::load_npy<double>(path);
    } catch (const Error& e) {
        row.problem = fmt::format("{} is not a .npy file tapegrad can read: {}", row.file, e.what());
        return row;
    }
    const std::size_t nans = static_cast<std::size_t>(std::count_if(given.begin(), given.end(), [](double v) { return std::isnan(v); }));
    if (nans > 0) {
        row.problem = fmt::format("{} holds NaN ({} of {} values)", row.file, nans, given.size());
        return row;
    }
    const Shape gs = given.shape();
    if (squeezed(gs) != squeezed(row.expected_shape)) {
        row.problem = shape_problem(q, gs);
        return row;
    }
    given.reshape(row.expected_shape);  // kept size-1 axes ([1, 3] for [3]) are fine
    for (std::size_t i = 0; i < given.size(); ++i) {
        row.max_abs = std::max(row.max_abs, std::abs(given.data()[i] - q.expected.data()[i]));
    }
    const double scale = max_abs_of(q.expected);
    row.max_rel = scale > 0 ? row.max_abs / scale : row.max_abs;
    if (row.max_abs == 0) {
        row.status = Status::exact;
    } else if (within(given, q.expected, o)) {
        row.status = Status::close;
        if (row.max_rel > 100 * o.rtol) {  // close by the absolute tolerance: a quantity near zero
            row.hint = fmt::format(
                "close although the relative difference is large: the quantity is near zero (its largest value is "
                "{:.3g}), so rounding dominates it; each difference is below atol {:.0e} + rtol {:.0e} x |expected|, "
                "tiny against the values it was computed from",
                scale, o.atol, o.rtol);
        }
    } else {
        row.hint = value_hint(q, given, o);
    }
    return row;
}

std::string explain(const CheckResult& r, const std::vector<Quantity>& qs, std::size_t k) {
    const Quantity& q = qs[k];
    const CheckRow& row = r.rows[k];
    std::string out = fmt::format("The first wrong quantity is {} ({}).\n", q.symbol, row.file);
    if (!q.formula.empty()) {
        out += fmt::format("  formula:    {} = {}\n", q.symbol, q.formula);
    }
    if (!q.source.empty()) {
        out += fmt::format("  the engine: {}\n", q.source);
    }
    bool deps_right = true;
    if (!q.from.empty()) {
        std::vector<std::string> parts;
        for (const std::string& dep : q.from) {
            const auto it = std::find_if(qs.begin(), qs.end(), [&](const Quantity& d) { return d.file == dep; });
            if (it == qs.end()) {
                continue;
            }
            const CheckRow& dr = r.rows[static_cast<std::size_t>(it - qs.begin())];
            std::string state = dr.status == Status::not_given ? (it->forward ? "not given (from the forward pass)" : "not given")
                                : dr.status == Status::wrong   ? "WRONG"
                                                               : "right";
            deps_right = deps_right && dr.status != Status::wrong;
            parts.push_back(fmt::format("{} ({})", it->symbol, state));
        }
        out += fmt::format("  built from: {}\n", fmt::join(parts, ", "));
    }
    if (!row.problem.empty()) {
        out += fmt::format("  problem:    {}\n", row.problem);
    } else {
        out += fmt::format("  yours differs by up to {:.3g} ({:.3g} relative)\n", row.max_abs, row.max_rel);
    }
    if (!row.hint.empty()) {
        out += fmt::format("  likely:     {}\n", row.hint);
    }
    if (!q.from.empty()) {
        out += deps_right ? "  What it is built from is right (or was not handed in), so the mistake is in this step.\n"
                          : "  Something it is built from is wrong too: fix that first.\n";
    }
    return out;
}

}  // namespace

CheckResult check_gradients(const std::vector<Quantity>& quantities, const std::string& dir, CheckOptions options) {
    if (!std::filesystem::is_directory(dir)) {
        throw IoError(fmt::format("check: {} is not a folder; give the folder your .npy files are in", dir));
    }
    CheckResult r;
    std::vector<Array<double>> given(quantities.size());
    for (std::size_t k = 0; k < quantities.size(); ++k) {
        r.rows.push_back(grade(quantities[k], dir, options, given[k]));
        if (r.rows.back().status == Status::wrong && !r.first_wrong) {
            r.first_wrong = k;
        }
    }
    if (r.first_wrong) {
        const std::size_t k = *r.first_wrong;
        const Array<double>& g = given[k];
        const Array<double>& e = quantities[k].expected;
        if (r.rows[k].problem.empty()) {
            for (std::size_t i = 0; i < e.size() && r.samples.size() < 4; ++i) {
                if (!(std::abs(g.data()[i] - e.data()[i]) <= options.atol + options.rtol * std::abs(e.data()[i]))) {
                    r.samples.push_back({index_str(e.shape(), i), e.data()[i], g.data()[i]});
                }
            }
        }
        r.explanation = explain(r, quantities, k);
    }
    return r;
}

template <class T>
std::vector<Quantity> named_quantities(const Tensor<T>& root, const std::optional<Array<T>>& seed) {
    see::retain_all_grads(root);
    if (seed) {
        root.backward(*seed);
    } else {
        root.backward();
    }
    const auto tape = see::tape_of(root);
    std::vector<Quantity> forward, backward;
    for (const auto& e : tape) {
        if (e.tensor->name.empty()) {
            continue;
        }
        const std::string& name = e.tensor->name;
        if (e.tensor->grad_fn) {  // a leaf's value is an input, not something to compute
            Quantity f;
            f.file = name;
            f.symbol = name;
            f.node = name;
            f.forward = true;
            f.expected = xt::cast<double>(e.tensor->data->array);
            f.formula = see::expression_of(tape, static_cast<std::size_t>(&e - tape.data()));
            forward.push_back(f);
        }
        if (e.tensor->grad && e.tensor != root.impl()) {  // dL/dL = 1 is the seed, not an answer
            Quantity b;
            b.file = "d" + name;
            b.node = name;
            b.symbol = "dL/d" + name;
            b.expected = xt::cast<double>(e.tensor->grad->value());
            backward.push_back(b);
        }
    }
    // The tape is in recording order; the engine runs it backwards, so gradients come out reversed.
    std::reverse(backward.begin(), backward.end());
    // dL/d(name) is built from the gradients of what was computed from it: its consumers.
    for (Quantity& b : backward) {
        const std::string name = b.file.substr(1);
        for (const auto& e : tape) {
            for (std::size_t in : e.inputs) {
                if (tape[in].tensor->name == name && !e.tensor->name.empty() && e.tensor->grad &&
                    std::find(b.from.begin(), b.from.end(), "d" + e.tensor->name) == b.from.end()) {
                    b.from.push_back("d" + e.tensor->name);
                }
            }
        }
    }
    forward.insert(forward.end(), backward.begin(), backward.end());
    return forward;
}

template std::vector<Quantity> named_quantities(const Tensor<float>&, const std::optional<Array<float>>&);
template std::vector<Quantity> named_quantities(const Tensor<double>&, const std::optional<Array<double>>&);

// ---- formats --------------------------------------------------------------------------------

namespace {

std::string shape_cell(const CheckRow& row) {
    std::string s = shape_str(row.expected_shape);
    if (row.given_shape && squeezed(*row.given_shape) != squeezed(row.expected_shape)) {
        s += fmt::format(" (yours {})", shape_str(*row.given_shape));
    }
    return s;
}

std::string number_cell(const CheckRow& row, double v) {
    return row.status == Status::not_given || !row.problem.empty() ? "-" : fmt::format("{:.3g}", v);
}

std::string summary_line(const CheckResult& r) {
    const std::size_t given = r.rows.size() - r.count(Status::not_given);
    return fmt::format("{} of {} given: {} exact, {} close, {} WRONG.", given, r.rows.size(), r.count(Status::exact),
                       r.count(Status::close), r.count(Status::wrong));
}

}  // namespace

std::string check_text(const CheckResult& r, const std::vector<Quantity>&) {
    std::size_t ws = 8, wf = 4;
    for (const auto& row : r.rows) {
        ws = std::max(ws, row.symbol.size());
        wf = std::max(wf, row.file.size());
    }
    std::string out = fmt::format("  {:<{}}  {:<{}}  {:<9}  {:>12}  {:>12}  {}\n", "quantity", ws, "file", wf, "status",
                                  "max abs diff", "max rel diff", "shape");
    bool backward_started = false;
    for (const auto& row : r.rows) {
        if (!row.forward && !backward_started) {
            backward_started = true;
            out += "  backward:\n";
        } else if (row.forward && &row == &r.rows.front()) {
            out += "  forward:\n";
        }
        out += fmt::format("  {:<{}}  {:<{}}  {:<9}  {:>12}  {:>12}  {}\n", row.symbol, ws, row.file, wf, to_string(row.status),
                           number_cell(row, row.max_abs), number_cell(row, row.max_rel), shape_cell(row));
        if (!r.first_wrong || &row != &r.rows[*r.first_wrong]) {  // the first wrong one has a paragraph below
            for (const std::string& note : {row.problem, row.hint}) {
                if (!note.empty()) {
                    out += fmt::format("      {}\n", note);
                }
            }
        }
    }
    out += "\n" + summary_line(r) + "\n";
    if (r.first_wrong) {
        out += "\n" + r.explanation;
        if (!r.samples.empty()) {
            out += fmt::format("  {:<10}  {:>24}  {:>24}\n", "element", "expected", "yours");
            for (const auto& s : r.samples) {
                out += fmt::format("  {:<10}  {:>24.17g}  {:>24.17g}\n", s.index, s.expected, s.given);
            }
        }
    } else {
        out += "Everything you handed in is right.\n";
    }
    return out;
}

std::string check_html(const CheckResult& r, const std::vector<Quantity>&) {
    const auto esc = see::html_escape;
    std::string out = "<h2>Your gradients, checked against the engine</h2>\n<table class=\"grid\"><tr><th>quantity</th><th>file</th>"
                      "<th>status</th><th>max abs diff</th><th>max rel diff</th><th>shape</th><th>note</th></tr>\n";
    for (const auto& row : r.rows) {
        out += fmt::format("<tr><td>{}</td><td>{}</td><td{}>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                           esc(row.symbol + (row.forward ? " (forward)" : "")), esc(row.file),
                           row.status == Status::wrong ? " class=\"wrong\"" : "", to_string(row.status),
                           number_cell(row, row.max_abs), number_cell(row, row.max_rel), esc(shape_cell(row)),
                           esc(row.problem.empty() ? row.hint : row.problem));
    }
    out += "</table>\n<p>" + esc(summary_line(r)) + "</p>\n";
    if (r.first_wrong) {
        out += "<pre>" + esc(r.explanation) + "</pre>\n";
        if (!r.samples.empty()) {
            out += "<table class=\"grid\"><tr><th>element</th><th>expected</th><th>yours</th></tr>\n";
            for (const auto& s : r.samples) {
                out += fmt::format("<tr><td>{}</td><td>{:.17g}</td><td>{:.17g}</td></tr>\n", s.index, s.expected, s.given);
            }
            out += "</table>\n";
        }
        out += "<p>The wrong quantity's tensor is marked in red in the graph tab.</p>\n";
    } else {
        out += "<p>Everything you handed in is right.</p>\n";
    }
    return out;
}

std::string check_markdown(const CheckResult& r, const std::vector<Quantity>&) {
    std::string out = "| quantity | file | status | max abs diff | max rel diff | shape |\n|---|---|---|---|---|---|\n";
    for (const auto& row : r.rows) {
        out += fmt::format("| {}{} | `{}` | {} | {} | {} | {} |\n", row.symbol, row.forward ? " (forward)" : "", row.file,
                           row.status == Status::wrong ? "**WRONG**" : to_string(row.status), number_cell(row, row.max_abs),
                           number_cell(row, row.max_rel), shape_cell(row));
    }
    out += "\n" + summary_line(r) + "\n";
    if (r.first_wrong) {
        out += "\n```\n" + r.explanation + "```\n";
        if (!r.samples.empty()) {
            out += "\n| element | expected | yours |\n|---|---|---|\n";
            for (const auto& s : r.samples) {
                out += fmt::format("| {} | {:.17g} | {:.17g} |\n", s.index, s.expected, s.given);
            }
        }
    }
    return out;
}

nlohmann::json check_json(const CheckResult& r, const std::vector<Quantity>& qs) {
    nlohmann::json j;
    j["ok"] = r.ok();
    j["rows"] = nlohmann::json::array();
    for (std::size_t k = 0; k < r.rows.size(); ++k) {
        const CheckRow& row = r.rows[k];
        nlohmann::json e{{"quantity", row.symbol},       {"file", row.file},
                         {"forward", row.forward},       {"status", to_string(row.status)},
                         {"expected_shape", row.expected_shape}, {"formula", qs[k].formula},
                         {"source", qs[k].source}};
        if (row.status != Status::not_given && row.problem.empty()) {
            e["max_abs_diff"] = row.max_abs;
            e["max_rel_diff"] = row.max_rel;
        }
        if (row.given_shape) e["given_shape"] = *row.given_shape;
        if (!row.problem.empty()) e["problem"] = row.problem;
        if (!row.hint.empty()) e["hint"] = row.hint;
        j["rows"].push_back(e);
    }
    if (r.first_wrong) {
        nlohmann::json fw{{"quantity", r.rows[*r.first_wrong].symbol}, {"explanation", r.explanation}, {"samples", nlohmann::json::array()}};
        for (const auto& s : r.samples) {
            fw["samples"].push_back({{"index", s.index}, {"expected", s.expected}, {"given", s.given}});
        }
        j["first_wrong"] = fw;
    }
    return j;
}

}  // namespace tg::grade
