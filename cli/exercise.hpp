// `tapegrad exercise bn|mlp` writes an exercise a learner solves by hand; `tapegrad check` grades
// what they wrote, quantity by quantity (see/check.hpp, see/exercise.hpp).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace tgcli {

struct ExerciseArgs {
    std::string program = "tapegrad";  // as the user ran it (argv[0]), for the commands it prints
    std::string kind = "bn";
    std::string out;  // default: exercise_<kind>
    unsigned seed = 0;
    std::size_t n = 4;
    std::size_t d = 3;
};

struct CheckArgs {
    std::string mine;
    std::string exercise;  // default: the same folder as --mine
    std::string format = "text";
    std::string html;  // also write the graded result on the exercise's graph as a page
};

void add_exercise_command(CLI::App& app, ExerciseArgs& args);
void add_check_command(CLI::App& app, CheckArgs& args);
void check_exercise_args(const ExerciseArgs& args);
int run_exercise(const ExerciseArgs& args);
// 0 when everything handed in is right, 1 otherwise.
int run_check(const CheckArgs& args);

}  // namespace tgcli
