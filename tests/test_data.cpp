// The readers on small files written here, good and bad.
#include <zlib.h>

#include "cli_helpers.hpp"

using tg::Array;
using tgtest::has;
using tgtest::message_of;
using namespace tg::nn;
using tgtest::TempDir;

namespace {

std::string be32(std::uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

void write_gz(const std::string& path, const std::string& bytes) {
    gzFile f = gzopen(path.c_str(), "wb");
    REQUIRE(f);
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
}

std::string images(std::uint32_t n, std::uint32_t r, std::uint32_t c, std::size_t pixels) {
    std::string s = be32(0x803) + be32(n) + be32(r) + be32(c);
    for (std::size_t i = 0; i < pixels; ++i) s += static_cast<char>(i % 256);
    return s;
}

std::string labels(std::uint32_t n, std::size_t count) {
    std::string s = be32(0x801) + be32(n);
    for (std::size_t i = 0; i < count; ++i) s += static_cast<char>(i % 10);
    return s;
}


}  // namespace

TEST_CASE("the IDX readers read gzip-compressed and plain files") {
    TempDir dir;
    write_gz(dir / "img.gz", images(3, 2, 2, 12));
    std::ofstream(dir / "lab") << labels(3, 3);
    const IdxImages im = read_idx_images(dir / "img.gz");
    CHECK(im.count == 3);
    CHECK(im.rows * im.cols == 4);
    CHECK(im.pixels[5] == 5);
    CHECK(read_idx_labels(dir / "lab") == std::vector<std::uint8_t>{0, 1, 2});
}

TEST_CASE("the IDX readers refuse wrong magic numbers, truncation, trailing data and absurd headers") {
    TempDir dir;
    write_gz(dir / "magic.gz", be32(0x801) + be32(1) + "x");
    CHECK(has(message_of<tg::IoError>([&] { read_idx_images(dir / "magic.gz"); }), "wrong magic number 0x00000801"));
    write_gz(dir / "short.gz", images(3, 2, 2, 10));
    CHECK(has(message_of<tg::IoError>([&] { read_idx_images(dir / "short.gz"); }), "truncated"));
    write_gz(dir / "long.gz", images(3, 2, 2, 13));
    CHECK(has(message_of<tg::IoError>([&] { read_idx_images(dir / "long.gz"); }), "data after"));
    write_gz(dir / "huge.gz", images(1000000, 100000, 100000, 0));
    CHECK(has(message_of<tg::IoError>([&] { read_idx_images(dir / "huge.gz"); }), "refusing"));
    write_gz(dir / "claims.gz", images(60000, 28, 28, 16));  // 47 MB claimed, 16 bytes given
    CHECK(has(message_of<tg::IoError>([&] { read_idx_images(dir / "claims.gz"); }), "cannot hold them"));
    std::ofstream(dir / "claims.idx", std::ios::binary) << images(60000, 28, 28, 16);
    CHECK(has(message_of<tg::IoError>([&] { read_idx_images(dir / "claims.idx"); }), "uncompressed file"));
    write_gz(dir / "zero.gz", images(0, 2, 2, 0));
    CHECK(has(message_of<tg::IoError>([&] { read_idx_images(dir / "zero.gz"); }), "is 0"));
    std::ofstream(dir / "corrupt.gz") << std::string("\x1f\x8b\x08\x00garbage-that-is-not-deflate", 31);
    CHECK_THROWS_AS(read_idx_labels(dir / "corrupt.gz"), tg::IoError);
    CHECK(has(message_of<tg::IoError>([&] { read_idx_labels(dir / "none.gz"); }), "cannot open"));
    // a label file of another length than the images
    const std::string d = (dir.path / "fmnist").string();
    tgtest::fs::create_directories(d);
    write_gz(d + "/train-images-idx3-ubyte.gz", images(3, 2, 2, 12));
    write_gz(d + "/train-labels-idx1-ubyte.gz", labels(2, 2));
    CHECK(has(message_of<tg::IoError>([&] { load_fashion_mnist<float>(d); }), "has 3 images but"));
}

TEST_CASE("Fashion-MNIST loads from Debian's package when it is installed") {
    if (!tgtest::fs::exists(std::string(default_fashion_mnist_dir) + "/t10k-images-idx3-ubyte.gz")) {
        // scripts/install-deps.sh installs it; without it there is nothing to read
        MESSAGE("dataset-fashion-mnist is not installed");
        CHECK_THROWS_AS(load_fashion_mnist<float>(), tg::IoError);
        return;
    }
    const Split<float> d = load_fashion_mnist<float>();
    CHECK(d.train.size() == 60000);
    CHECK(d.test.size() == 10000);
    CHECK(d.train.features() == 784);
    CHECK(d.test.classes == 10);
    CHECK(xt::amax(d.train.x)() == 255.0f);
    CHECK(*std::max_element(d.test.y.begin(), d.test.y.end()) == 9);
}

TEST_CASE("the CSV loader reads features then a label, with or without a header") {
    TempDir dir;
    std::ofstream(dir / "h.csv") << "a,b,label\n1.5,2,0\n-3,4e1,2\n\n5,6,1\r\n";
    const Dataset<double> d = load_csv<double>(dir / "h.csv");
    CHECK(d.size() == 3);
    CHECK(d.features() == 2);
    CHECK(d.classes == 3);
    CHECK(d.x(1, 1) == 40.0);
    CHECK(d.y == std::vector<std::int64_t>{0, 2, 1});
    std::ofstream(dir / "n.csv") << "1,2,1\n3,4,0\n";
    CHECK(load_csv<float>(dir / "n.csv").size() == 2);
}

TEST_CASE("the CSV loader refuses ragged rows, non-numbers, bad labels and empty files, naming file and line") {
    TempDir dir;
    std::ofstream(dir / "ragged.csv") << "1,2,0\n3,1\n";
    CHECK(has(message_of<tg::IoError>([&] { load_csv<double>(dir / "ragged.csv"); }), "ragged.csv:2: 2 fields, but the first row has 3"));
    std::ofstream(dir / "text.csv") << "x,y,l\n1,2,0\n1,abc,1\n";
    CHECK(has(message_of<tg::IoError>([&] { load_csv<double>(dir / "text.csv"); }), "text.csv:3"));
    std::ofstream(dir / "label.csv") << "1,2,0.5\n";
    CHECK(has(message_of<tg::IoError>([&] { load_csv<double>(dir / "label.csv"); }), "not a class number"));
    std::ofstream(dir / "neg.csv") << "1,2,-1\n";
    CHECK_THROWS_AS(load_csv<double>(dir / "neg.csv"), tg::IoError);
    std::ofstream(dir / "empty.csv") << "a,b\n";
    CHECK(has(message_of<tg::IoError>([&] { load_csv<double>(dir / "empty.csv"); }), "no data rows"));
    CHECK(has(message_of<tg::IoError>([&] { load_csv<double>(dir / "missing.csv"); }), "cannot open"));
}

TEST_CASE("spirals and moons are seeded; scaling is fitted on the training set") {
    const auto a = two_spirals<double>(100, 3, 0.01);
    const auto b = two_spirals<double>(100, 3, 0.01);
    CHECK(a.x == b.x);
    CHECK(two_moons<double>(50, 1).x != two_moons<double>(50, 2).x);
    Split<double> s = split(two_moons<double>(200, 1), 0.25, 1);
    CHECK(s.train.size() == 150);
    CHECK(s.test.size() == 50);
    standardize(s);
    CHECK(std::abs(xt::mean(xt::view(s.train.x, xt::all(), 0))()) < 1e-12);
    CHECK(xt::variance(xt::view(s.train.x, xt::all(), 1))() == doctest::Approx(1.0));
    Split<double> u = split(two_moons<double>(200, 1), 0.25, 1);
    scale_to_unit(u);
    CHECK(xt::amin(u.train.x)() == 0.0);
    CHECK(xt::amax(u.train.x)() == 1.0);
}

namespace {

// A .npy file with the given header dictionary and `data` bytes after it.
std::string npy_bytes(const std::string& dict, std::size_t data) {
    std::string header = dict;
    header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
    header += '\n';
    std::string out = std::string("\x93NUMPY\x01\x00", 8);
    out += static_cast<char>(header.size() & 0xff);
    out += static_cast<char>(header.size() >> 8);
    return out + header + std::string(data, '\0');
}

}  // namespace

TEST_CASE("the npy reader refuses absurd shapes before allocating: 10^12 elements, overflow, negative, malformed") {
    TempDir dir;
    auto refused = [&](const std::string& name, const std::string& shape, const std::string& part) {
        std::ofstream(dir / name, std::ios::binary)
            << npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': " + shape + ", }", 64);
        INFO(shape);
        CHECK(has(message_of<tg::IoError>([&] { tg::io::load_npy<double>(dir / name); }), part));
    };
    refused("tera.npy", "(1000000, 1000000)", "claims shape [1000000, 1000000]");
    refused("overflow.npy", "(4294967296, 4294967296, 4294967296)", "more elements than can be addressed");
    refused("huge_dim.npy", "(0, 99999999999999999999999)", "too large to address");
    refused("negative.npy", "(-3, 2)", "not a tuple of integers");
    refused("no_commas.npy", "(3 2)", "needs commas");
    refused("not_tuple.npy", "[3, 2]", "not a tuple");
    // an empty array is a shape NumPy writes, and loads as one
    std::ofstream(dir / "empty.npy", std::ios::binary)
        << npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 3), }", 0);
    CHECK(tg::io::load_npy<double>(dir / "empty.npy").shape() == std::vector<std::size_t>{0, 3});
}
