#include "cli/app.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/bn.hpp"
#include "cli/demo.hpp"
#include "cli/exercise.hpp"
#include "cli/norm.hpp"
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
    // Every subcommand, in the order --help lists them; the first runs when none is named.
    const std::vector<Command> commands{
        walkthrough_command(app),
        graph_command(app),
        trace_command(app),
        compare_command(app),
        bn_command(app),
        norm_command(app),
        demo_command(app),
        train_command(app),
        experiment_command(app),
        exercise_command(app, argc > 0 && argv[0] ? argv[0] : "tapegrad"),
        check_command(app),
    };

    try {
        app.parse(argc, argv);
        auto chosen = std::find_if(commands.begin(), commands.end(), [](const Command& c) { return c.cli->parsed(); });
        const Command& command = chosen == commands.end() ? commands.front() : *chosen;
        if (check_only) {
            command.check();
            return 0;
        }
        return command.run();
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
