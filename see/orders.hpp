// Composite and fused batch norm one and two orders up: Hessian-vector products (order 2) and
// third derivatives along two directions (order 3), each side against central differences of the
// order below, with the nodes, memory and time each side spends.
//
//   L1 = sum(dy * y)                           (y = batch_norm(x) in the module's mode)
//   order 2: L2 = <dL1/dx, vx> + <dL1/dgamma, vg>,  reported: dL2/dx, dL2/dgamma
//            numeric: (grad L1 at (x, gamma) + h (vx, vg)  -  at - h (vx, vg)) / 2h
//   order 3: L3 = <dL2/dx, wx>,                  reported: dL3/dx
//            numeric: (dL2/dx at x + h wx  -  at x - h wx) / 2h
// The directions vx, vg, wx are seeded; the numerical side always runs in float64.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "see/norm_case.hpp"
#include "see/report.hpp"

namespace tg::see {

struct OrderSide {
    std::size_t nodes = 0;        // op nodes in the graph that computes the order's derivative
    std::size_t saved_bytes = 0;  // held for backward by those nodes
    double median_us = 0;         // forward, and every derivative up to this order
};

struct OrderReport {
    int order = 2;
    std::string what = "batch norm";  // NormCase::title()
    std::string dtype;
    Shape shape;
    bool training = true;
    std::vector<ReportRow> rows;  // numeric_composite / numeric_fused: against central differences
    OrderSide composite, fused;
    std::size_t repeats = 0;
};

// order is 2 or 3; throws ValueError otherwise.
template <class T>
OrderReport compare_orders(const NormCase<T>& c, int order, const ReportOptions& options = {});

std::string order_report_text(const OrderReport& r);
std::string order_report_markdown(const OrderReport& r);
nlohmann::json order_report_json(const OrderReport& r);

}  // namespace tg::see
