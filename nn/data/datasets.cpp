#include "nn/data/datasets.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>

namespace tg::nn {

namespace {

// The largest IDX payload accepted: well above Fashion-MNIST's 47 MB, far below an absurd header.
constexpr std::size_t max_idx_bytes = std::size_t{1} << 31;

class GzFile {
public:
    explicit GzFile(const std::string& path) : path_(path), f_(gzopen(path.c_str(), "rb")) {
        if (!f_) {
            throw IoError(fmt::format("{}: cannot open", path));
        }
        std::error_code ec;
        file_size_ = static_cast<std::size_t>(std::filesystem::file_size(path, ec));
        if (ec) {
            gzclose(f_);
            throw IoError(fmt::format("{}: cannot open: {}", path, ec.message()));
        }
    }
    ~GzFile() { gzclose(f_); }
    GzFile(const GzFile&) = delete;
    GzFile& operator=(const GzFile&) = delete;

    // Reads exactly n bytes or throws, naming what was being read.
    void read(void* into, std::size_t n, const char* what) {
        std::size_t done = 0;
        while (done < n) {
            const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - done, 1u << 30));
            const int got = gzread(f_, static_cast<char*>(into) + done, chunk);
            if (got < 0) {
                int err = 0;
                const char* msg = gzerror(f_, &err);
                throw IoError(fmt::format("{}: corrupt compressed data while reading {}: {}", path_, what, msg));
            }
            if (got == 0) {
                throw IoError(fmt::format("{}: truncated: the file ends after {} of the {} bytes of {}", path_, done, n, what));
            }
            done += static_cast<std::size_t>(got);
        }
    }
    std::uint32_t read_u32(const char* what) {
        unsigned char b[4];
        read(b, 4, what);
        return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
    }
    bool at_end() {
        char c;
        return gzread(f_, &c, 1) == 0;
    }

    // Refuses, before anything is allocated for it, a header that claims more data than the file
    // can hold: its own size if it is not compressed, gzip's largest expansion (1032:1) if it is.
    void check_claim(std::size_t bytes, const char* what) {
        const bool plain = gzdirect(f_) != 0;
        const std::size_t room = plain ? file_size_ : file_size_ * 1032 + 1024;
        if (bytes > room) {
            throw IoError(fmt::format("{}: the header claims {} bytes of {} but the {} file of {} bytes cannot hold "
                                      "them; is it truncated or not an IDX file?",
                                      path_, bytes, what, plain ? "uncompressed" : "compressed", file_size_));
        }
    }

private:
    std::string path_;
    gzFile f_;
    std::size_t file_size_ = 0;
};

std::size_t checked_count(const std::string& path, const std::vector<std::uint32_t>& dims) {
    std::size_t n = 1;
    for (std::uint32_t d : dims) {
        if (d == 0) {
            throw IoError(fmt::format("{}: a dimension of the IDX header is 0", path));
        }
        if (n > max_idx_bytes / d) {
            throw IoError(fmt::format("{}: the IDX header claims more than {} bytes of data; refusing it", path, max_idx_bytes));
        }
        n *= d;
    }
    return n;
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
    GzFile f(path);
    const std::uint32_t magic = f.read_u32("the magic number");
    if (magic != 0x00000803) {
        throw IoError(fmt::format("{}: wrong magic number 0x{:08x}; an IDX file of unsigned-byte images starts "
                                  "with 0x00000803", path, magic));
    }
    IdxImages im;
    const std::uint32_t count = f.read_u32("the image count");
    const std::uint32_t rows = f.read_u32("the row count");
    const std::uint32_t cols = f.read_u32("the column count");
    const std::size_t n = checked_count(path, {count, rows, cols});
    f.check_claim(n, "pixels");
    im.count = count;
    im.rows = rows;
    im.cols = cols;
    im.pixels.resize(n);
    f.read(im.pixels.data(), n, "the pixels");
    if (!f.at_end()) {
        throw IoError(fmt::format("{}: there is data after the {} images its header announces", path, count));
    }
    return im;
}

std::vector<std::uint8_t> read_idx_labels(const std::string& path) {
    GzFile f(path);
    const std::uint32_t magic = f.read_u32("the magic number");
    if (magic != 0x00000801) {
        throw IoError(fmt::format("{}: wrong magic number 0x{:08x}; an IDX file of unsigned-byte labels starts "
                                  "with 0x00000801", path, magic));
    }
    const std::uint32_t count = f.read_u32("the label count");
    const std::size_t n = checked_count(path, {count});
    f.check_claim(n, "labels");
    std::vector<std::uint8_t> labels(n);
    f.read(labels.data(), labels.size(), "the labels");
    if (!f.at_end()) {
        throw IoError(fmt::format("{}: there is data after the {} labels its header announces", path, count));
    }
    return labels;
}

namespace {

template <class T>
Dataset<T> idx_dataset(const std::string& images_path, const std::string& labels_path) {
    const IdxImages im = read_idx_images(images_path);
    const std::vector<std::uint8_t> labels = read_idx_labels(labels_path);
    if (labels.size() != im.count) {
        throw IoError(fmt::format("{} has {} images but {} has {} labels", images_path, im.count, labels_path,
                                  labels.size()));
    }
    Dataset<T> d;
    d.x = tg::empty<T>({im.count, im.rows * im.cols});
    std::transform(im.pixels.begin(), im.pixels.end(), d.x.data(), [](std::uint8_t p) { return static_cast<T>(p); });
    d.y.assign(labels.begin(), labels.end());
    for (std::size_t i = 0; i < labels.size(); ++i) {
        if (labels[i] > 9) {
            throw IoError(fmt::format("{}: label {} of item {} is outside 0..9", labels_path, labels[i], i));
        }
    }
    d.classes = 10;
    return d;
}

}  // namespace

template <class T>
Split<T> load_fashion_mnist(const std::string& dir) {
    // MNIST is often unpacked: the same names without .gz are read too (zlib reads both)
    auto file = [&](const char* name) {
        const std::string gz = dir + "/" + name;
        const std::string plain = gz.substr(0, gz.size() - 3);
        return std::filesystem::exists(gz) || !std::filesystem::exists(plain) ? gz : plain;
    };
    Split<T> s;
    s.train = idx_dataset<T>(file("train-images-idx3-ubyte.gz"), file("train-labels-idx1-ubyte.gz"));
    s.test = idx_dataset<T>(file("t10k-images-idx3-ubyte.gz"), file("t10k-labels-idx1-ubyte.gz"));
    return s;
}

template <class T>
Dataset<T> load_csv(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        throw IoError(fmt::format("{}: cannot open", path));
    }
    std::vector<double> values;
    std::vector<std::int64_t> labels;
    std::size_t width = 0;
    std::string line;
    std::size_t lineno = 0;
    bool first = true;
    while (std::getline(in, line)) {
        ++lineno;
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        if (line.find_first_not_of(" \t") == std::string::npos) {
            continue;
        }
        std::vector<double> row;
        std::stringstream ss(line);
        std::string field;
        bool numeric = true;
        while (std::getline(ss, field, ',')) {
            char* end = nullptr;
            const double v = std::strtod(field.c_str(), &end);
            while (end && (*end == ' ' || *end == '\t')) {
                ++end;
            }
            if (field.find_first_not_of(" \t") == std::string::npos || !end || *end != '\0' || !std::isfinite(v)) {
                numeric = false;
            }
            row.push_back(v);
        }
        if (!line.empty() && line.back() == ',') {
            numeric = false;  // an empty last field
        }
        if (!numeric) {
            if (first) {
                first = false;  // a header
                continue;
            }
            throw IoError(fmt::format("{}:{}: a field is not a finite number: \"{}\"", path, lineno, line));
        }
        first = false;
        if (row.size() < 2) {
            throw IoError(fmt::format("{}:{}: expected features then a label, got {} field", path, lineno, row.size()));
        }
        if (width == 0) {
            width = row.size();
        } else if (row.size() != width) {
            throw IoError(fmt::format("{}:{}: {} fields, but the first row has {}", path, lineno, row.size(), width));
        }
        const double label = row.back();
        if (label < 0 || label != std::floor(label) || label > 1e6) {
            throw IoError(fmt::format("{}:{}: the label {} is not a class number (0, 1, 2, ...)", path, lineno, label));
        }
        labels.push_back(static_cast<std::int64_t>(label));
        values.insert(values.end(), row.begin(), row.end() - 1);
    }
    if (labels.empty()) {
        throw IoError(fmt::format("{}: no data rows", path));
    }
    Dataset<T> d;
    d.x = tg::empty<T>({labels.size(), width - 1});
    std::transform(values.begin(), values.end(), d.x.data(), [](double v) { return static_cast<T>(v); });
    d.y = std::move(labels);
    d.classes = static_cast<std::size_t>(*std::max_element(d.y.begin(), d.y.end())) + 1;
    return d;
}

namespace {

// n points of two classes alternating, point(k, t) giving class k's point for a uniform t in
// [0, 1), plus Gaussian noise.
template <class T, class P>
Dataset<T> two_classes(std::size_t n, std::uint64_t seed, double noise, P point) {
    std::mt19937_64 gen(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::normal_distribution<double> z(0.0, noise > 0 ? noise : 1.0);
    Dataset<T> d;
    d.x = tg::empty<T>({n, std::size_t{2}});
    d.classes = 2;
    for (std::size_t i = 0; i < n; ++i) {
        const std::int64_t k = static_cast<std::int64_t>(i % 2);
        const auto [x0, x1] = point(k, u(gen));
        d.x(i, 0) = static_cast<T>(x0 + (noise > 0 ? z(gen) : 0.0));
        d.x(i, 1) = static_cast<T>(x1 + (noise > 0 ? z(gen) : 0.0));
        d.y.push_back(k);
    }
    return d;
}

const double pi = std::acos(-1.0);

}  // namespace

template <class T>
Dataset<T> two_spirals(std::size_t n, std::uint64_t seed, double noise) {
    return two_classes<T>(n, seed, noise, [](std::int64_t k, double u) {
        const double t = std::sqrt(u);  // denser towards the outside, where the arms are longer
        const double r = 0.1 + t;
        const double a = 3.0 * pi * t + static_cast<double>(k) * pi;
        return std::pair<double, double>{r * std::cos(a), r * std::sin(a)};
    });
}

template <class T>
Dataset<T> two_moons(std::size_t n, std::uint64_t seed, double noise) {
    return two_classes<T>(n, seed, noise, [](std::int64_t k, double u) {
        const double t = pi * u;
        return k == 0 ? std::pair<double, double>{std::cos(t), std::sin(t)}
                      : std::pair<double, double>{1.0 - std::cos(t), 0.5 - std::sin(t)};
    });
}

std::vector<std::size_t> epoch_order(std::size_t n, std::uint64_t seed, std::size_t epoch) {
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::seed_seq s{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                    static_cast<std::uint32_t>(epoch), 0x7461u};
    std::mt19937_64 gen(s);
    // Fisher-Yates with our own draws: std::shuffle's use of the generator is not specified, so
    // the same seed would give other batches with another standard library.
    for (std::size_t i = n; i > 1; --i) {
        const std::size_t j = static_cast<std::size_t>(gen() % i);
        std::swap(order[i - 1], order[j]);
    }
    return order;
}

template <class T>
Split<T> split(const Dataset<T>& all, double test_fraction, std::uint64_t seed) {
    if (!(test_fraction > 0 && test_fraction < 1)) {
        throw ValueError(fmt::format("split: the test fraction must lie in (0, 1), got {}", test_fraction));
    }
    const std::size_t n = all.size();
    const std::size_t n_test = std::max<std::size_t>(1, static_cast<std::size_t>(std::round(test_fraction * static_cast<double>(n))));
    if (n_test >= n) {
        throw ValueError(fmt::format("split: {} rows are too few to keep {} for testing", n, n_test));
    }
    const std::vector<std::size_t> order = epoch_order(n, seed, 0);
    Split<T> s;
    auto take = [&](Dataset<T>& d, std::size_t b, std::size_t e) {
        auto [x, y] = gather(all, order, b, e);
        d.x = x.value();
        d.y = std::move(y);
        d.classes = all.classes;
    };
    take(s.train, 0, n - n_test);
    take(s.test, n - n_test, n);
    return s;
}

template <class T>
void scale_by(Split<T>& data, double divisor) {
    data.train.x /= static_cast<T>(divisor);
    data.test.x /= static_cast<T>(divisor);
}

template <class T>
void scale_to_unit(Split<T>& data) {
    const std::size_t d = data.train.features();
    std::vector<T> lo(d, std::numeric_limits<T>::max()), hi(d, std::numeric_limits<T>::lowest());
    for (std::size_t i = 0; i < data.train.size(); ++i) {
        for (std::size_t j = 0; j < d; ++j) {
            lo[j] = std::min(lo[j], data.train.x(i, j));
            hi[j] = std::max(hi[j], data.train.x(i, j));
        }
    }
    for (Dataset<T>* s : {&data.train, &data.test}) {
        for (std::size_t i = 0; i < s->size(); ++i) {
            for (std::size_t j = 0; j < d; ++j) {
                const T range = hi[j] - lo[j];
                s->x(i, j) = range > 0 ? (s->x(i, j) - lo[j]) / range : T(0);
            }
        }
    }
}

template <class T>
void standardize(Split<T>& data) {
    const std::size_t d = data.train.features();
    const double n = static_cast<double>(data.train.size());
    std::vector<double> mean(d, 0.0), var(d, 0.0);
    for (std::size_t i = 0; i < data.train.size(); ++i) {
        for (std::size_t j = 0; j < d; ++j) {
            mean[j] += static_cast<double>(data.train.x(i, j)) / n;
        }
    }
    for (std::size_t i = 0; i < data.train.size(); ++i) {
        for (std::size_t j = 0; j < d; ++j) {
            const double c = static_cast<double>(data.train.x(i, j)) - mean[j];
            var[j] += c * c / n;
        }
    }
    for (Dataset<T>* s : {&data.train, &data.test}) {
        for (std::size_t i = 0; i < s->size(); ++i) {
            for (std::size_t j = 0; j < d; ++j) {
                const double sd = std::sqrt(var[j]);
                s->x(i, j) = static_cast<T>(sd > 0 ? (static_cast<double>(s->x(i, j)) - mean[j]) / sd : 0.0);
            }
        }
    }
}

template <class T>
std::pair<Tensor<T>, std::vector<std::int64_t>> gather(const Dataset<T>& data, const std::vector<std::size_t>& order,
                                                       std::size_t begin, std::size_t end) {
    const std::size_t d = data.features();
    Array<T> x = tg::empty<T>({end - begin, d});
    std::vector<std::int64_t> y(end - begin);
    for (std::size_t k = begin; k < end; ++k) {
        const T* src = data.x.data() + order[k] * d;
        std::copy(src, src + d, x.data() + (k - begin) * d);
        y[k - begin] = data.y[order[k]];
    }
    return {Tensor<T>(std::move(x)), std::move(y)};
}

#define TG_INSTANTIATE(T)                                                                                     \
    template Split<T> load_fashion_mnist(const std::string&);                                                 \
    template Dataset<T> load_csv(const std::string&);                                                         \
    template Dataset<T> two_spirals(std::size_t, std::uint64_t, double);                                      \
    template Dataset<T> two_moons(std::size_t, std::uint64_t, double);                                        \
    template Split<T> split(const Dataset<T>&, double, std::uint64_t);                                        \
    template void scale_to_unit(Split<T>&);                                                                   \
    template void scale_by(Split<T>&, double);                                                                \
    template void standardize(Split<T>&);                                                                     \
    template std::pair<Tensor<T>, std::vector<std::int64_t>> gather(const Dataset<T>&,                        \
                                                                    const std::vector<std::size_t>&, std::size_t, std::size_t);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg::nn
