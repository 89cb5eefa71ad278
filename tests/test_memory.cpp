// What makes tiny graphs cheap: the pool's blocks, a node's inline inputs and saved tensors
// (SmallVector), and shapes read in place. The speed itself is measured in bench/, not here.
#include "helpers.hpp"

#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <stdexcept>
#include <thread>

#include "core/pool.hpp"
#include "core/small_vector.hpp"

using tg::Array;
using tg::Tensor;

TEST_CASE("SmallVector keeps its elements in order inline and after it moves them to the heap") {
    tg::SmallVector<std::shared_ptr<int>, 2> v;
    CHECK(v.empty());
    for (int i = 0; i < 5; ++i) {
        v.push_back(std::make_shared<int>(i));
        REQUIRE(v.size() == static_cast<std::size_t>(i + 1));
        for (int k = 0; k <= i; ++k) {
            CHECK(*v[static_cast<std::size_t>(k)] == k);  // the spill at the third keeps the first two
        }
    }
    int sum = 0;
    for (const auto& p : v) {
        sum += *p;
    }
    CHECK(sum == 0 + 1 + 2 + 3 + 4);
    CHECK(*v.back() == 4);
    CHECK_THROWS_AS(v.at(5), std::out_of_range);

    // elements are owned: pop_back and clear release them
    std::weak_ptr<int> last = v.back();
    v.pop_back();
    CHECK(last.expired());
    std::weak_ptr<int> first = v[0];
    v.clear();
    CHECK(v.empty());
    CHECK(first.expired());

    // after clear it holds two inline again; reserve past two moves to the heap up front
    v.push_back(std::make_shared<int>(7));
    v.reserve(3);
    v.push_back(std::make_shared<int>(8));
    v.push_back(std::make_shared<int>(9));
    CHECK(v.size() == 3);
    CHECK(*v[0] == 7);
    CHECK(*v[2] == 9);
    std::weak_ptr<int> inline_one;
    {
        tg::SmallVector<std::shared_ptr<int>, 2> w;
        w.push_back(std::make_shared<int>(1));
        inline_one = w[0];
        w.pop_back();
        CHECK(inline_one.expired());  // popped from the inline part too
    }
}

TEST_CASE("pool blocks are 64-byte aligned, distinct while held, and may be freed on another thread") {
    std::set<void*> held;
    std::vector<std::pair<void*, std::size_t>> blocks;
    for (std::size_t bytes : {1u, 8u, 64u, 65u, 200u, 512u, 513u, 4096u}) {
        for (int k = 0; k < 3; ++k) {
            void* p = tg::pool::allocate(bytes);
            CHECK(reinterpret_cast<std::uintptr_t>(p) % tg::pool::alignment == 0);
            CHECK(held.insert(p).second);  // no block handed out twice
            std::memset(p, 0xab, bytes);   // writable over its whole size (ASan checks it there)
            blocks.emplace_back(p, bytes);
        }
    }
    std::thread other([&] {
        for (auto [p, bytes] : blocks) {
            tg::pool::deallocate(p, bytes);
        }
    });
    other.join();
    // this thread goes on taking blocks as before
    void* again = tg::pool::allocate(100);
    CHECK(again != nullptr);
    tg::pool::deallocate(again, 100);
}

TEST_CASE("a node with more inputs than it holds inline runs backward like any other") {
    // cat of five tensors: five inputs (two inline, then on the heap), each gets its slice of g
    std::vector<Tensor<double>> xs;
    for (int k = 0; k < 5; ++k) {
        xs.emplace_back(Array<double>{double(k), double(k) + 0.5}, true);
    }
    Tensor<double> y = tg::cat(xs, 0);
    REQUIRE(y.grad_fn());
    CHECK(y.grad_fn()->inputs.size() == 5);
    Tensor<double> w(Array<double>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
    tg::sum(y * w).backward();
    for (int k = 0; k < 5; ++k) {
        const Array<double>& g = xs[static_cast<std::size_t>(k)].grad();
        CHECK(g(0) == doctest::Approx(2 * k + 1));
        CHECK(g(1) == doctest::Approx(2 * k + 2));
    }
    // and the graph's second walk is refused as before, now that its saved values are gone
    CHECK_THROWS_AS(tg::sum(y * w).backward(), tg::GraphError);
}

TEST_CASE("a tensor's shape is read in place, and a node keeps the shapes its inputs had") {
    Tensor<double> a(Array<double>{{1, 2, 3}, {4, 5, 6}}, true);
    CHECK(&a.shape() == &a.value().shape());  // a reference, no copy
    CHECK(a.shape() == tg::Shape{2, 3});
    Tensor<double> b(Array<double>{10, 20, 30}, true);
    Tensor<double> y = a * b;  // b broadcast along the rows
    REQUIRE(y.grad_fn());
    CHECK(y.grad_fn()->input_shape(0) == tg::Shape{2, 3});
    CHECK(y.grad_fn()->input_shape(1) == tg::Shape{3});
    tg::sum(y).backward();
    CHECK(b.grad() == Array<double>{5, 7, 9});
}
