// Text files embedded in the build (CMake's tapegrad_embed writes them as {name, contents} entries):
// the exercises' starters and the step-through page's stylesheet and script.
#pragma once

#include <cstddef>
#include <string>

namespace tg::see {

struct EmbeddedFile {
    const char* name;
    const char* text;
};

// The text of `name` among `files`, or "" if there is none.
template <std::size_t N>
const char* embedded(const EmbeddedFile (&files)[N], const std::string& name) {
    for (const auto& f : files) {
        if (name == f.name) {
            return f.text;
        }
    }
    return "";
}

}  // namespace tg::see
