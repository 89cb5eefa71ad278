#include "cli/plot.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace tgcli {

namespace fs = std::filesystem;
using tg::nn::EpochStats;

void draw_with_gnuplot(const std::string& plot, const std::string& script, int width, int height) {
    const std::string ext = fs::path(plot).extension().string();
    if (ext != ".svg" && ext != ".png") {
        throw tg::ValueError(fmt::format("plot: {} must end in .svg or .png", plot));
    }
    if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
        throw tg::IoError(fmt::format("plot: gnuplot was not found; install it with apt-get install gnuplot-nox, "
                                      "or drop --plot"));
    }
    if (!fs::path(plot).parent_path().empty()) {
        fs::create_directories(fs::path(plot).parent_path());
    }
    const std::string gp = plot + ".gp";
    {
        std::ofstream out(gp);
        out << (ext == ".svg" ? fmt::format("set terminal svg size {},{} dynamic font 'Helvetica,12'\n", width, height)
                              : fmt::format("set terminal pngcairo size {},{} font 'Helvetica,11'\n", width, height));
        out << "set output '" << plot << "'\n" << script;
    }
    if (std::system(fmt::format("gnuplot '{}' 2>'{}.err'", gp, plot).c_str()) != 0) {
        throw tg::IoError(fmt::format("plot: gnuplot failed; its script is {} and its messages {}.err", gp, plot));
    }
    fs::remove(plot + ".err");
}

namespace {

void run_gnuplot(const std::string& plot, const std::string& script) { draw_with_gnuplot(plot, script, 1000, 420); }

}  // namespace

void write_log(const std::string& path, const std::vector<EpochStats>& stats, const std::string& run) {
    std::string text = fmt::format("{}epoch,train_loss,train_acc,test_acc,seconds\n", run.empty() ? "" : "run,");
    for (const auto& s : stats) {
        text += fmt::format("{}{},{:.6f},{:.6f},{:.6f},{:.4f}\n", run.empty() ? "" : run + ",", s.epoch, s.train_loss,
                            s.train_acc, s.test_acc, s.seconds);
    }
    const fs::path parent = fs::path(path).parent_path();
    if (!parent.empty()) {
        fs::create_directories(parent);
    }
    tg::io::write_file_atomically(path, {text});
}


void plot_training(const std::string& plot, const std::string& log) {
    run_gnuplot(plot, fmt::format(
        "set datafile separator ','\nset key autotitle columnhead\nset multiplot layout 1,2\n"
        "set xlabel 'epoch'\nset title 'training loss'\nplot '{0}' using 1:2 with linespoints lw 2 title 'train loss'\n"
        "set title 'accuracy'\nset yrange [*:1]\nplot '{0}' using 1:3 with linespoints lw 2 title 'train', "
        "'{0}' using 1:4 with linespoints lw 2 title 'test'\nunset multiplot\n", log));
}

void plot_experiment(const std::string& plot, const std::vector<std::string>& logs, const std::vector<std::string>& titles) {
    std::string lines, names;
    for (std::size_t i = 0; i < logs.size(); ++i) {
        // the last run dashed: in `experiment bn` it lies on top of the one before
        lines += fmt::format("{}'{}' using 2:5 every ::1 with linespoints lw 2{} title '{}'", i ? ", " : "", logs[i],
                             i + 1 == logs.size() && i > 0 ? " dt 2" : "", titles.at(i));
        names += (i ? ", " : "") + titles.at(i);
    }
    run_gnuplot(plot, fmt::format("set datafile separator ','\nset xlabel 'epoch'\nset ylabel 'test accuracy'\n"
                                  "set key bottom right\nset title 'test accuracy per epoch: {}'\nplot {}\n",
                                  names, lines));
}

}  // namespace tgcli
