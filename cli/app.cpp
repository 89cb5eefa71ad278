#include "cli/app.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>

#include "cli/bn.hpp"
#include "cli/demo.hpp"
#include "cli/exercise.hpp"
#include "cli/see.hpp"
#include "cli/train.hpp"
#include "core/errors.hpp"

namespace {

// One line, whatever the message holds.
void fail_line(const std::string& message) {
    std::string line = message;
    std::replace(line.begin(), line.end(), '\n', ' ');
    std::fprintf(stderr, "tapegrad: %s\n", line.c_str());
}

}  // namespace

namespace tgcli {

int run_cli(int argc, char** argv, bool check_only) {
    CLI::App app{"tapegrad: a miniature tape-based autograd framework. Without a subcommand it runs "
                 "`walkthrough` with its defaults."};
    app.require_subcommand(0, 1);
    app.set_version_flag("--version", "tapegrad " TAPEGRAD_VERSION);
    SeeArgs walk, graph, trace, compare;
    add_walkthrough_command(app, walk);
    add_graph_command(app, graph);
    add_trace_command(app, trace);
    add_compare_command(app, compare);
    BnArgs bn;
    add_bn_command(app, bn);
    app.add_subcommand("demo", "build a small expression, run backward and print the gradients");
    TrainArgs train, experiment;
    add_train_command(app, train);
    add_experiment_command(app, experiment);
    ExerciseArgs exercise;
    exercise.program = argc > 0 && argv[0] ? argv[0] : "tapegrad";
    add_exercise_command(app, exercise);
    CheckArgs check;
    add_check_command(app, check);

    try {
        app.parse(argc, argv);
        if (check_only) {
            if (app.got_subcommand("train")) {
                check_train_args(train);
            } else if (app.got_subcommand("experiment")) {
                check_train_args(experiment);
            } else if (app.got_subcommand("bn")) {
                check_bn_args(bn);
            } else if (app.got_subcommand("exercise")) {
                check_exercise_args(exercise);
            } else if (app.got_subcommand("check")) {
                // reads the learner's folder: nothing to check without it
            } else {
                for (const SeeArgs* see : {&walk, &graph, &trace, &compare}) {
                    check_bn_args(see->bn);
                }
            }
            return 0;
        }
        if (app.got_subcommand("bn")) {
            return run_bn(bn);
        }
        if (app.got_subcommand("train")) {
            return run_train(train);
        }
        if (app.got_subcommand("experiment")) {
            return run_experiment_bn(experiment);
        }
        if (app.got_subcommand("exercise")) {
            return run_exercise(exercise);
        }
        if (app.got_subcommand("check")) {
            return run_check(check);
        }
        if (app.got_subcommand("demo")) {
            return run_demo();
        }
        if (app.got_subcommand("graph")) {
            return run_graph(graph);
        }
        if (app.got_subcommand("trace")) {
            return run_trace(trace);
        }
        if (app.got_subcommand("compare")) {
            return run_compare(compare);
        }
        return run_walkthrough(walk);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        fail_line(fmt::format("{} (see tapegrad --help)", e.what()));
        return 2;
    } catch (const tg::Error& e) {
        fail_line(e.what());
        return 1;
    } catch (const std::filesystem::filesystem_error& e) {
        fail_line(e.what());
        return 1;
    } catch (const std::exception& e) {
        fail_line(fmt::format("unexpected error: {}", e.what()));
        return 3;
    }
}

}  // namespace tgcli
