// A little support for the lessons: each one states claims and checks them as it goes, so that
// running the lessons as tests proves they still say the truth.
#pragma once

#include <fmt/format.h>

#include <cstdlib>
#include <map>
#include <string>

#include "tapegrad.hpp"

namespace lesson {

inline int failures = 0;

// Prints the claim with a tick, or a cross and counts the failure.
inline void claim(bool holds, const std::string& what) {
    fmt::print("  [{}] {}\n", holds ? "ok" : "FAILED", what);
    failures += holds ? 0 : 1;
}

inline int finish() {
    fmt::print(failures ? "\n{} claim(s) failed\n" : "\nevery claim holds\n", failures);
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}

}  // namespace lesson
