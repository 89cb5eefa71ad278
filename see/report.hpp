// The composite-vs-fused report: the same batch-norm step through both implementations, every
// quantity compared, each side's gradients checked by central differences, and their cost.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "see/norm_case.hpp"

namespace tg::see {

struct ReportRow {
    std::string quantity;  // "y", "dx", "dgamma", ..., "dxhat", "dsigma2", "dmu"
    bool exact = false;    // bit-for-bit equal
    double max_abs = 0;    // max |c - f|
    double max_rel = 0;    // max |c - f| / max(|c|, |f|), 0 where both are 0
    double rel_error = 0;  // cs231n: max |c - f| / max(1e-8, |c| + |f|)
    // cs231n rel_error of each side against a central-difference gradient (gradients only)
    std::optional<double> numeric_composite;
    std::optional<double> numeric_fused;
};

struct ReportSide {
    std::size_t nodes = 0;        // op nodes on the tape
    std::size_t saved_bytes = 0;  // held by saved tensors between forward and backward
    double median_us = 0;         // forward + backward
};

struct Report {
    std::string what = "batch norm";  // NormCase::title()
    std::string dtype;
    Shape shape;
    bool training = true;
    std::vector<ReportRow> rows;
    ReportSide composite, fused;
    std::size_t repeats = 0;
    std::string numeric_note;  // why the numerical columns are empty, if they are
};

struct ReportOptions {
    std::size_t repeats = 21;          // timed runs; the median is reported
    std::size_t numeric_limit = 4096;  // skip central differences above this many input elements
};

template <class T>
Report compare_norm(const NormCase<T>& c, const ReportOptions& options = {});

// The elementwise comparison used by the report's columns.
template <class T>
ReportRow compare_arrays(const std::string& quantity, const Array<T>& composite, const Array<T>& fused);

std::string report_text(const Report& r);
std::string report_markdown(const Report& r);
std::string report_html(const Report& r);  // tables for the step-through page
nlohmann::json report_json(const Report& r);

}  // namespace tg::see
