// Shared by the fuzz targets: the readers take paths, so each input is written to a file of this
// process's own, in $TMPDIR (run.sh points it at /dev/shm when it can).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace tgfuzz {

inline std::filesystem::path scratch() {
    static const std::filesystem::path dir = [] {
        auto d = std::filesystem::temp_directory_path() / ("tapegrad-fuzz-" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        return d;
    }();
    return dir;
}

inline void write_bytes(const std::filesystem::path& path, const std::uint8_t* data, std::size_t size) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

inline std::string input_file(const char* name, const std::uint8_t* data, std::size_t size) {
    const std::filesystem::path path = scratch() / name;
    write_bytes(path, data, size);
    return path.string();
}

}  // namespace tgfuzz
