// The tapegrad command line. Every failure ends as one line on stderr and a documented exit code:
//   0 success, 1 bad input or a tapegrad error (shape, dtype, file, value), 2 a usage error,
//   3 anything unexpected.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>

#include "cli/bn.hpp"
#include "cli/demo.hpp"
#include "cli/see.hpp"
#include "cli/train.hpp"
#include "core/runtime.hpp"
#include "core/errors.hpp"

namespace {

// One line, whatever the message holds.
void fail_line(const std::string& message) {
    std::string line = message;
    std::replace(line.begin(), line.end(), '\n', ' ');
    std::fprintf(stderr, "tapegrad: %s\n", line.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    tg::ensure_fast_blas(argv);
    tg::reuse_freed_memory();
    CLI::App app{"tapegrad: a miniature tape-based autograd framework. Without a subcommand it runs "
                 "`walkthrough` with its defaults."};
    app.require_subcommand(0, 1);
    tgcli::SeeArgs walk, graph, trace, compare;
    add_walkthrough_command(app, walk);
    add_graph_command(app, graph);
    add_trace_command(app, trace);
    add_compare_command(app, compare);
    tgcli::BnArgs bn;
    add_bn_command(app, bn);
    app.add_subcommand("demo", "build a small expression, run backward and print the gradients");
    tgcli::TrainArgs train, experiment;
    add_train_command(app, train);
    add_experiment_command(app, experiment);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        fail_line(fmt::format("{} (see tapegrad --help)", e.what()));
        return 2;
    }

    try {
        if (app.got_subcommand("bn")) {
            return tgcli::run_bn(bn);
        }
        if (app.got_subcommand("train")) {
            return tgcli::run_train(train);
        }
        if (app.got_subcommand("experiment")) {
            return tgcli::run_experiment_bn(experiment);
        }
        if (app.got_subcommand("demo")) {
            return tgcli::run_demo();
        }
        if (app.got_subcommand("graph")) {
            return tgcli::run_graph(graph);
        }
        if (app.got_subcommand("trace")) {
            return tgcli::run_trace(trace);
        }
        if (app.got_subcommand("compare")) {
            return tgcli::run_compare(compare);
        }
        return tgcli::run_walkthrough(walk);
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
