// Data for small experiments: Fashion-MNIST from Debian's dataset-fashion-mnist package, CSV
// files, two synthetic problems, shuffled mini-batches and input scaling. Every reader checks
// what it reads and names the file and the problem when something is off.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace tg::nn {

template <class T>
struct Dataset {
    Array<T> x;                   // (N, D) features
    std::vector<std::int64_t> y;  // N labels in [0, classes)
    std::size_t classes = 0;

    std::size_t size() const { return y.size(); }
    std::size_t features() const { return x.dimension() == 2 ? x.shape()[1] : 0; }
};

template <class T>
struct Split {
    Dataset<T> train;
    Dataset<T> test;
};

// Where Debian's dataset-fashion-mnist package puts the files.
inline const char* default_fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";

// The 60,000 training and 10,000 test images of dir (train-images-idx3-ubyte.gz, ...), as
// rows of 784 pixels in [0, 255] and labels 0..9.
template <class T>
Split<T> load_fashion_mnist(const std::string& dir = default_fashion_mnist_dir);

// IDX files (gzip-compressed or not): unsigned-byte images (magic 0x00000803) and labels (0x00000801).
struct IdxImages {
    std::vector<std::uint8_t> pixels;  // count * rows * cols, row-major
    std::size_t count = 0, rows = 0, cols = 0;
};
IdxImages read_idx_images(const std::string& path);
std::vector<std::uint8_t> read_idx_labels(const std::string& path);

// A CSV file of features then an integer label per row; a first row that is not numeric is a
// header. Ragged rows, non-numeric fields and negative or fractional labels are refused.
template <class T>
Dataset<T> load_csv(const std::string& path);

// Two interleaved spirals (1.5 turns each) and scikit-learn's two moons, n points in all,
// classes 0 and 1 alternating, with Gaussian noise of the given standard deviation.
template <class T>
Dataset<T> two_spirals(std::size_t n, std::uint64_t seed, double noise = 0.0);
template <class T>
Dataset<T> two_moons(std::size_t n, std::uint64_t seed, double noise = 0.1);

// The last `fraction` of a seeded shuffle becomes the test set.
template <class T>
Split<T> split(const Dataset<T>& all, double test_fraction, std::uint64_t seed);

// Per-feature scaling fitted on the training set and applied to both: to [0, 1] by the training
// minimum and maximum (or by 255 for 8-bit images: scale_by), or to zero mean and unit variance.
template <class T>
void scale_to_unit(Split<T>& data);
template <class T>
void scale_by(Split<T>& data, double divisor);
template <class T>
void standardize(Split<T>& data);

// The row order of one epoch: a shuffle of 0..n-1 fixed by (seed, epoch).
std::vector<std::size_t> epoch_order(std::size_t n, std::uint64_t seed, std::size_t epoch);

// Rows `order[begin, end)` of a dataset as one batch.
template <class T>
std::pair<Tensor<T>, std::vector<std::int64_t>> gather(const Dataset<T>& data, const std::vector<std::size_t>& order,
                                                       std::size_t begin, std::size_t end);

}  // namespace tg::nn
