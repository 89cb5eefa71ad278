// `tapegrad exercise bn|mlp` (bn with --kind batch|layer|group) writes an exercise a learner solves by hand; `tapegrad check` grades
// what they wrote, quantity by quantity (grade/check.hpp, grade/exercise.hpp).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "cli/command.hpp"

namespace tgcli {

struct ExerciseArgs {
    std::string program = "tapegrad";  // as the user ran it (argv[0]), for the commands it prints
    std::string kind = "bn";
    std::string out;  // default: exercise_<kind>
    unsigned seed = 0;
    std::size_t n = 4;
    std::size_t d = 3;
    std::string norm = "batch";  // bn: --kind batch, layer or group
    std::size_t groups = 0;      // bn --kind group
};

struct CheckArgs {
    std::string mine;
    std::string exercise;  // default: the same folder as --mine
    std::string format = "text";
    std::string html;  // also write the graded result on the exercise's graph as a page
};

Command exercise_command(CLI::App& app, const std::string& program);  // program: argv[0], for the commands it prints
Command check_command(CLI::App& app);

}  // namespace tgcli
