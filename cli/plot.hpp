// Logs and plots of training runs: the per-epoch CSV and gnuplot's drawings of it.
#pragma once

#include <string>
#include <vector>

#include "tapegrad.hpp"

namespace tgcli {

// Draws `script` (gnuplot commands) into `plot`, an .svg or a .png file of the given size in
// pixels; throws tg::ValueError for another extension and tg::IoError if gnuplot is missing or fails.
void draw_with_gnuplot(const std::string& plot, const std::string& script, int width, int height);

// Writes the whole CSV again after each epoch, atomically, so that it is never half-written; with
// `run`, a first column names the run.
void write_log(const std::string& path, const std::vector<tg::nn::EpochStats>& stats, const std::string& run = "");

// Training loss, and training and test accuracy, per epoch from a log written by write_log.
void plot_training(const std::string& plot, const std::string& log);

// Test accuracy per epoch of an experiment's runs, from their logs, one line per run with its title.
void plot_experiment(const std::string& plot, const std::vector<std::string>& logs, const std::vector<std::string>& titles);

}  // namespace tgcli
