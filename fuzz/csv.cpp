// Fuzz target: the CSV reader (features, then an integer label per row).
#include "core/errors.hpp"
#include "fuzz/input.hpp"
#include "nn/data/datasets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string path = tgfuzz::input_file("input.csv", data, size);
    try {
        tg::nn::load_csv<float>(path);
    } catch (const tg::Error&) {
    }
    try {
        tg::nn::load_csv<double>(path);
    } catch (const tg::Error&) {
    }
    return 0;
}
