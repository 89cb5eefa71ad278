// The tapegrad command line. Every failure ends as one line on stderr and a documented exit code:
//   0 success, 1 a tapegrad error (shape, dtype, graph, value), 2 a usage error, 3 anything else.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <exception>

#include "cli/demo.hpp"

int main(int argc, char** argv) {
    CLI::App app{"tapegrad: a miniature tape-based autograd framework"};
    app.require_subcommand(0, 1);

    CLI::App* demo = app.add_subcommand("demo", "build a small expression, run backward, print gradients (the default)");
    (void)demo;

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "tapegrad: %s (see tapegrad --help)\n", e.what());
        return 2;
    }

    try {
        return tgcli::run_demo();
    } catch (const tg::Error& e) {
        std::fprintf(stderr, "tapegrad: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tapegrad: unexpected error: %s\n", e.what());
        return 3;
    }
}
