// Bad input gets a typed exception whose message names the op and the shapes or dtypes.
#include "helpers.hpp"

using tg::Array;
using tgtest::has;
using tgtest::message_of;
using tg::Tensor;

TEST_CASE("a non-broadcastable add names the op and both shapes") {
    Tensor<double> a = Tensor<double>::zeros({4, 3});
    Tensor<double> b = Tensor<double>::zeros({4});
    const std::string m = message_of<tg::ShapeError>([&] { a + b; });
    CHECK(has(m, "add"));
    CHECK(has(m, "[4, 3]"));
    CHECK(has(m, "[4]"));
    CHECK_THROWS_AS(a * Tensor<double>::zeros({2, 3}), tg::ShapeError);
}

TEST_CASE("matmul with mismatched inner dimensions names both shapes") {
    Tensor<double> a = Tensor<double>::zeros({2, 3});
    Tensor<double> b = Tensor<double>::zeros({4, 5});
    const std::string m = message_of<tg::ShapeError>([&] { tg::matmul(a, b); });
    CHECK(has(m, "matmul: inner dimensions differ"));
    CHECK(has(m, "[2, 3]"));
    CHECK(has(m, "[4, 5]"));
    CHECK_THROWS_AS(tg::matmul(a, Tensor<double>::zeros({4})), tg::ShapeError);  // a 1-D b is a column: 4 != 3
}

TEST_CASE("an op mixing float32 and float64 is refused, not cast") {
    Tensor<float> f = Tensor<float>::zeros({2, 3});
    Tensor<double> d = Tensor<double>::zeros({2, 3});
    const std::string m = message_of<tg::DtypeError>([&] { f + d; });
    CHECK(has(m, "add"));
    CHECK(has(m, "float32 [2, 3]"));
    CHECK(has(m, "float64 [2, 3]"));
    CHECK_THROWS_AS(f - d, tg::DtypeError);
    CHECK_THROWS_AS(d * f, tg::DtypeError);
    CHECK_THROWS_AS(f / d, tg::DtypeError);
    CHECK_THROWS_AS(tg::matmul(f, Tensor<double>::zeros({3, 2})), tg::DtypeError);
    // the fix named in the message works
    CHECK((tg::cast<double>(f) + d).shape() == tg::Shape{2, 3});
}

TEST_CASE("shape ops and reductions reject bad arguments clearly") {
    Tensor<double> x = Tensor<double>::zeros({2, 3});
    CHECK(has(message_of<tg::ShapeError>([&] { tg::reshape(x, {4, 2}); }), "[2, 3]"));
    CHECK_THROWS_AS(tg::reshape(x, {-1, -1}), tg::ShapeError);
    CHECK_THROWS_AS(tg::reshape(x, {-1, 4}), tg::ShapeError);
    CHECK(has(message_of<tg::ShapeError>([&] { tg::sum(x, {2}); }), "axis 2 is out of range"));
    CHECK_THROWS_AS(tg::mean(x, {0, -2}), tg::ShapeError);
    CHECK_THROWS_AS(tg::permute(x, {0, 0}), tg::ShapeError);
    CHECK_THROWS_AS(tg::transpose(Tensor<double>::zeros({2, 3, 4})), tg::ShapeError);
    CHECK_THROWS_AS(tg::log_softmax(x, 3), tg::ShapeError);
    CHECK(has(message_of<tg::ShapeError>([&] { x.item(); }), "[2, 3]"));
}

TEST_CASE("reading a gradient that does not exist explains why") {
    Tensor<double> c = Tensor<double>::zeros({2});
    CHECK(has(message_of<tg::GraphError>([&] { c.grad(); }), "requires_grad"));
    Tensor<double> x = Tensor<double>::zeros({2}, true);
    CHECK(has(message_of<tg::GraphError>([&] { x.grad(); }), "backward"));
}

TEST_CASE("every error type derives from tg::Error") {
    Tensor<double> a = Tensor<double>::zeros({4, 3});
    CHECK_THROWS_AS(a + Tensor<double>::zeros({2}), tg::Error);
    CHECK_THROWS_AS(a.backward(), tg::Error);
}
