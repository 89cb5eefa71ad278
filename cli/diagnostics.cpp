#include "cli/diagnostics.hpp"

#include <fmt/format.h>

#include <numeric>

#include "cli/plot.hpp"

namespace tgcli {

template <class T>
Diagnostics<T>::Diagnostics(tg::nn::Sequential<T>& model, std::string path, std::size_t every, tg::nn::Dataset<T> probe)
    : model_(model), path_(std::move(path)), every_(every), probe_(std::move(probe)) {}

template <class T>
void Diagnostics<T>::after_step(std::size_t step) {
    if (!before_.empty() && step % every_ == 0) {
        last_ratios_ = tg::nn::update_ratios(before_, model_);
        before_.clear();
        std::vector<std::size_t> order(probe_.size());
        std::iota(order.begin(), order.end(), std::size_t{0});
        const auto [x, y] = tg::nn::gather(probe_, order, 0, probe_.size());
        last_ = tg::nn::activation_stats(model_, x, y);
        last_step_ = step;
        for (const auto& s : last_) {
            series_[fmt::format("a{:04}", s.layer)] += fmt::format("{},activation,{},{},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},\n",
                                                                  step, s.layer, s.kind, s.mean, s.std, s.saturated,
                                                                  s.grad_mean, s.grad_std);
        }
        for (const auto& r : last_ratios_) {
            series_["u" + r.name] += fmt::format("{},update,,{},,,,,,{:.6g}\n", step, r.name, r.log10_ratio);
        }
    }
    if ((step + 1) % every_ == 0) {  // the next step is measured: keep the parameters before it
        for (const auto& [name, p] : model_.named_parameters()) {
            before_.push_back(p.value());
        }
    }
}

template <class T>
void Diagnostics<T>::finish() const {
    if (last_step_ == 0) {
        fmt::print("diagnostics: no step measured (the run has fewer than {} steps); lower --diagnostics-every\n", every_);
        return;
    }
    fmt::print("\ndiagnostics after step {} (on {} training examples; saturated: |tanh| > 0.97, sigmoid outside "
               "[0.015, 0.985], ReLU exactly 0):\n",
               last_step_, probe_.size());
    for (const auto& s : last_) {
        fmt::print("layer {} ({}): mean {:+.3f}, std {:.3f}, saturated {:.1f}%; gradient mean {:+.2e}, std {:.2e}\n",
                   s.layer, s.kind, s.mean, s.std, 100 * s.saturated, s.grad_mean, s.grad_std);
    }
    for (const auto& r : last_ratios_) {
        fmt::print("{}: log10(update std / data std) = {:.2f} (guide: about -3)\n", r.name, r.log10_ratio);
    }
    const std::string csv = path_ + ".csv";
    std::string text = "step,kind,layer,name,mean,std,saturated,grad_mean,grad_std,log10_update_ratio\n";
    for (const auto& [key, rows] : series_) {
        text += rows;
    }
    tg::io::write_file_atomically(csv, {text});
    auto per_layer = [&](int col, const char* title) {
        std::string lines;
        for (const auto& s : last_) {
            lines += fmt::format("{}'{}' using 1:(strcol(2) eq 'activation' && $3 == {} ? column({}) : 1/0) with lines lw 2 "
                                 "title 'layer {} ({})'",
                                 lines.empty() ? "" : ", ", csv, s.layer, col, s.layer, s.kind);
        }
        return fmt::format("set title '{}'\nplot {}\n", title, lines);
    };
    std::string ratios;
    for (const auto& r : last_ratios_) {
        ratios += fmt::format(", '{}' using 1:(strcol(2) eq 'update' && strcol(4) eq '{}' ? $10 : 1/0) with lines lw 2 "
                              "title '{}'",
                              csv, r.name, r.name);
    }
    draw_with_gnuplot(path_,
                      "set datafile separator ','\nset grid\nset key outside right\nset xlabel 'training step'\n"
                      "set multiplot layout 2,2\n" +
                          per_layer(6, "activation std") + per_layer(7, "saturated share") +
                          per_layer(9, "gradient std (dL/d activation)") +
                          "set title 'update-to-data ratio, log10'\nplot -3 with lines dt 2 lc 'black' title 'guide: -3'" +
                          ratios + "\nunset multiplot\n",
                      1400, 800);
    fmt::print("diagnostics written to {} and {}\n", path_, csv);
}

template class Diagnostics<float>;
template class Diagnostics<double>;

}  // namespace tgcli
