// Fuzz target: the command line's parsing and option checks. The input is split at NUL bytes
// into arguments; every outcome must be a documented exit code (0, 1 or 2) with no crash and no
// "unexpected error" (code 3). Commands are checked, not run (run_cli's check_only).
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/app.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::string> args{"tapegrad"};
    std::string current;
    for (std::size_t i = 0; i < size && args.size() < 64; ++i) {
        if (data[i] == 0) {
            args.push_back(current);
            current.clear();
        } else {
            current.push_back(static_cast<char>(data[i]));
        }
    }
    if (!current.empty()) {
        args.push_back(current);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int code = tgcli::run_cli(static_cast<int>(args.size()), argv.data(), /*check_only=*/true);
    if (code != 0 && code != 1 && code != 2) {
        std::abort();
    }
    return 0;
}
