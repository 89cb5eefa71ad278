// One subcommand of the tapegrad program: registered on the app with its options, which fill an
// arguments struct that the command owns; checked without reading any file (the command-line
// fuzz target stops there); run. cli/app.cpp lists them all in one table.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>

namespace tgcli {

struct Command {
    CLI::App* cli = nullptr;      // the subcommand as CLI11 parsed it
    std::function<void()> check;  // throws tg::Error with one line if an option is wrong
    std::function<int()> run;     // returns the exit code
};

// A Command whose options live in an Args made here: `add(cli, args)` registers them.
template <class Args, class Add, class Check, class Run>
Command make_command(CLI::App* cli, std::shared_ptr<Args> args, Add add, Check check, Run run) {
    add(cli, *args);
    return Command{cli, [args, check] { check(*args); }, [args, run] { return run(*args); }};
}

}  // namespace tgcli
