// The fused batch-norm node opened up: its closed-form backward,
//     dx = gamma * inv_std / N * (N * g - sum(g) - xhat * sum(g * xhat)),
// stage by stage, each with its value and the composite graph's quantity it equals (and by how
// much they differ). Training mode; in evaluation mode dx = gamma * inv_std * g.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "see/norm_case.hpp"

namespace tg::see {

template <class T>
struct FusedStage {
    std::string name;     // "term 2"
    std::string formula;  // "-gamma * inv_std / N * sum(g)"
    Array<T> value;
    std::string equals;   // "dL/dX from mu" (the composite graph's quantity)
    double max_abs_diff = 0;  // against that quantity
};

template <class T>
std::vector<FusedStage<T>> fused_stages(const NormCase<T>& c);

template <class T>
std::string fused_stages_text(const std::vector<FusedStage<T>>& stages, std::size_t max_values = 12);
template <class T>
std::string fused_stages_markdown(const std::vector<FusedStage<T>>& stages, std::size_t max_values = 12);
template <class T>
nlohmann::json fused_stages_json(const std::vector<FusedStage<T>>& stages, std::size_t max_values = 12);

}  // namespace tg::see
