// `tapegrad train --diagnostics PATH`: makemore part 3's health checks of a training run, taken
// every few steps (nn/probes.hpp: activation_stats, update_ratios), printed at the end, written to
// PATH.csv and drawn into PATH.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tapegrad.hpp"

namespace tgcli {

template <class T>
class Diagnostics {
public:
    // `probe`: the batch the activation statistics are measured on (the first training examples).
    Diagnostics(tg::nn::Sequential<T>& model, std::string path, std::size_t every, tg::nn::Dataset<T> probe);
    // Called after each optimiser step, `step` counting from 1 over the whole run.
    void after_step(std::size_t step);
    // The table of the last measurement, the CSV and the figure.
    void finish() const;

private:
    tg::nn::Sequential<T>& model_;
    std::string path_;
    std::size_t every_;
    tg::nn::Dataset<T> probe_;
    std::vector<tg::Array<T>> before_;  // the parameters before the step to be measured
    // the CSV's rows, one series (a layer, a weight) after another, so that gnuplot draws each as
    // one line (rows of other series between two points would break it)
    std::map<std::string, std::string> series_;
    std::vector<tg::nn::ActivationStats> last_;
    std::vector<tg::nn::UpdateRatio> last_ratios_;
    std::size_t last_step_ = 0;
};

}  // namespace tgcli
