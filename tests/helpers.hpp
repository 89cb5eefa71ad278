// Small helpers shared by the tests.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>

#include "tapegrad.hpp"

namespace tgtest {

using tg::Array;
using tg::Tensor;

// A tensor of the given shape with values drawn uniformly from [lo, hi), reproducibly.
template <class T = double>
Tensor<T> random_tensor(const tg::Shape& shape, unsigned seed, double lo = -1.0, double hi = 1.0,
                        bool requires_grad = true) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> dist(lo, hi);
    Array<T> v = tg::empty<T>(shape);
    for (auto& x : v) {
        x = static_cast<T>(dist(rng));
    }
    return Tensor<T>(std::move(v), requires_grad);
}

// The message of the exception of type E that f throws; fails the test if f throws none.
template <class E, class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    }
    FAIL("no exception of the expected type was thrown");
    return "";
}

inline bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Runs gradcheck and reports its summary if it fails.
inline void check_gradients(const tg::GradcheckFn& f, const std::vector<Tensor<double>>& inputs,
                            tg::GradcheckOptions options = {}) {
    const tg::GradcheckResult r = tg::gradcheck(f, inputs, options);
    INFO(r.summary());
    CHECK(r.ok);
    CHECK(r.inputs.size() > 0);
}

template <class T>
double max_abs_diff(const Array<T>& a, const Array<T>& b) {
    REQUIRE(a.shape() == b.shape());
    double m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        m = std::max(m, std::abs(static_cast<double>(a.data()[i]) - static_cast<double>(b.data()[i])));
    }
    return m;
}

}  // namespace tgtest

namespace tgtest {

// max |a - b| / max |b|: a relative difference that does not blow up where b crosses zero.
template <class A, class B>
double rel_diff(const tg::Array<A>& a, const tg::Array<B>& b) {
    REQUIRE(a.shape() == b.shape());
    double num = 0;
    double den = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        num = std::max(num, std::abs(static_cast<double>(a.data()[i]) - static_cast<double>(b.data()[i])));
        den = std::max(den, std::abs(static_cast<double>(b.data()[i])));
    }
    return den > 0 ? num / den : num;
}

}  // namespace tgtest

namespace tgtest {

// Equal as PyTorch's recorded answers are read: NaN where it has NaN, the same infinity where it
// has one, and finite values within rel * max(floor, |want|) + abs (the sign of a zero is not
// compared).
template <class T>
void check_like_pytorch(const tg::Array<T>& got, const tg::Array<double>& want, const std::string& what, double rel,
                        double abs = 1e-300, double floor = 0.0) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        const double g = static_cast<double>(got.data()[i]);
        const double w = want.data()[i];
        INFO(what << " at element " << i << ": tapegrad " << g << ", PyTorch " << w);
        if (std::isnan(w)) {
            CHECK(std::isnan(g));
        } else if (std::isinf(w)) {
            CHECK(g == w);
        } else {
            CHECK(std::isfinite(g));
            CHECK(std::abs(g - w) <= rel * std::max(floor, std::abs(w)) + abs);
        }
    }
}

}  // namespace tgtest

namespace tgtest {

// A recorded fixture's meta.txt: "key value" pairs, one per line.
inline std::map<std::string, std::string> read_meta(const std::filesystem::path& dir) {
    std::ifstream in(dir / "meta.txt");
    REQUIRE(in);
    std::map<std::string, std::string> meta;
    std::string key, value;
    while (in >> key >> value) {
        meta[key] = value;
    }
    return meta;
}

// The array <dir>/<name>.npy.
template <class T>
tg::Array<T> load(const std::filesystem::path& dir, const std::string& name) {
    return tg::io::load_npy<T>((dir / (name + ".npy")).string());
}

}  // namespace tgtest
