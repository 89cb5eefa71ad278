// Fuzz target: the IDX readers (plain and gzip-compressed), as Fashion-MNIST is read.
#include "core/errors.hpp"
#include "fuzz/input.hpp"
#include "nn/data/datasets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string path = tgfuzz::input_file("input.idx", data, size);
    try {
        tg::nn::read_idx_images(path);
    } catch (const tg::Error&) {
    }
    try {
        tg::nn::read_idx_labels(path);
    } catch (const tg::Error&) {
    }
    return 0;
}
