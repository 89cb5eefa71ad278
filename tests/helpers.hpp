// Small helpers shared by the tests.
#pragma once

#include <doctest/doctest.h>

#include <random>

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
    Array<T> v = xt::empty<T>(shape);
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
