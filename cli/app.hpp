// The tapegrad command line as a function, so that main() and the command-line fuzz target run
// the same parsing and checks. Every failure ends as one line on stderr and a documented exit code:
//   0 success, 1 bad input or a tapegrad error (shape, dtype, file, value), 2 a usage error,
//   3 anything unexpected, 130 training stopped by Ctrl-C or SIGTERM (after saving a checkpoint
//   when --save was given).
#pragma once

namespace tgcli {

// Parses argv, checks every option and runs the command; returns the exit code. With
// check_only, stops after the checks that need no file or data (for fuzzing the parser).
int run_cli(int argc, char** argv, bool check_only = false);

}  // namespace tgcli
