// Fuzz target: the .npy reader. Any input must load or fail with a tg::Error; anything else
// (a crash, a sanitizer report, another exception, an allocation the header alone asked for) is
// a finding.
#include "core/errors.hpp"
#include "fuzz/input.hpp"
#include "io/npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string path = tgfuzz::input_file("input.npy", data, size);
    try {
        tg::io::read_npy_info(path);
    } catch (const tg::Error&) {
    }
    try {
        tg::io::load_npy<float>(path);
    } catch (const tg::Error&) {
    }
    try {
        tg::io::load_npy<double>(path);
    } catch (const tg::Error&) {
    }
    try {
        tg::io::load_npy<std::int64_t>(path);
    } catch (const tg::Error&) {
    }
    return 0;
}
