// Running the tapegrad program from tests, as a user would.
#pragma once

#include <unistd.h>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "helpers.hpp"

namespace tgtest {

namespace fs = std::filesystem;


struct Run {
    int code = -1;
    std::string err;
    std::string out;
};

// A fresh folder per test case, removed afterwards.
struct TempDir {
    fs::path path;
    TempDir() {
        static int counter = 0;
        path = fs::temp_directory_path() / ("tapegrad_cli_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};

inline std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

inline Run tapegrad(const TempDir& dir, const std::string& args) {
    const std::string out = dir / "stdout.txt";
    const std::string err = dir / "stderr.txt";
    const std::string cmd = std::string(TAPEGRAD_CLI) + " " + args + " >" + out + " 2>" + err;
    const int status = std::system(cmd.c_str());
    Run r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

inline std::size_t lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

// Checks a refusal: non-zero exit, nothing written, one line on stderr that mentions `part`.
inline void check_refused(const Run& r, const std::string& part, int code = 1) {
    INFO(r.err);
    CHECK(r.code == code);
    CHECK(lines(r.err) == 1);
    CHECK(r.err.rfind("tapegrad: ", 0) == 0);
    CHECK(r.err.find(part) != std::string::npos);
}

}  // namespace tgtest
