// The tapegrad command line. Every failure ends as one line on stderr and a documented exit code:
//   0 success, 1 bad input or a tapegrad error (shape, dtype, file, value), 2 a usage error,
//   3 anything unexpected.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>

#include "cli/bn.hpp"
#include "cli/demo.hpp"
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
    CLI::App app{"tapegrad: a miniature tape-based autograd framework (default: the demo)"};
    app.require_subcommand(0, 1);
    app.add_subcommand("demo", "build a small expression, run backward and print the gradients");
    tgcli::BnArgs bn;
    add_bn_command(app, bn);

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
        return tgcli::run_demo();
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
