// The engine's rules: ordering, seeding, accumulation, freeing, and refusing misuse.
#include "helpers.hpp"

using tg::Array;
using tg::Tensor;

TEST_CASE("a tensor used twice (a diamond) receives the sum of both gradients") {
    // y = a*x + b*x with x used by two branches: dy/dx = a + b
    Tensor<double> x = Tensor<double>::scalar(3.0, true);
    Tensor<double> left = x * 2.0;
    Tensor<double> right = x * 5.0;
    Tensor<double> y = left + right;
    y.backward();
    CHECK(x.grad()() == doctest::Approx(7.0));

    // x * x: both operands are the same tensor, d(x^2)/dx = 2x
    Tensor<double> w = Tensor<double>::scalar(-1.5, true);
    (w * w).backward();
    CHECK(w.grad()() == doctest::Approx(-3.0));
}

TEST_CASE("gradients of leaves accumulate across backward calls until zero_grad") {
    Tensor<double> x = Tensor<double>::scalar(2.0, true);
    (x * 3.0).backward();
    (x * 3.0).backward();
    CHECK(x.grad()() == doctest::Approx(6.0));
    x.zero_grad();
    CHECK_FALSE(x.has_grad());
    (x * 4.0).backward();
    CHECK(x.grad()() == doctest::Approx(4.0));
}

TEST_CASE("a second backward through a freed graph throws and names the fix") {
    Tensor<double> x = Tensor<double>::scalar(2.0, true);
    Tensor<double> y = tg::exp(x) * x;
    y.backward();
    const double first = x.grad()();
    CHECK_THROWS_AS(y.backward(), tg::GraphError);
    try {
        y.backward();
    } catch (const tg::GraphError& e) {
        CHECK(std::string(e.what()).find("retain_graph") != std::string::npos);
    }
    // the failed call changed nothing
    CHECK(x.grad()() == first);
}

TEST_CASE("retain_graph keeps saved tensors so that backward can run twice") {
    Tensor<double> x = Tensor<double>::scalar(2.0, true);
    Tensor<double> y = tg::exp(x) * x;
    y.backward(tg::BackwardOptions{true});
    CHECK(y.grad_fn()->saved_bytes() > 0);
    y.backward();
    // d(x e^x)/dx = e^x (1 + x), twice
    CHECK(x.grad()() == doctest::Approx(2 * std::exp(2.0) * 3.0));
}

TEST_CASE("saved tensors are freed after backward") {
    Tensor<double> x = tgtest::random_tensor({64, 32}, 1);
    Tensor<double> y = tg::sum(tg::exp(x) * x);
    auto mul_node = y.grad_fn()->inputs[0]->grad_fn;
    REQUIRE(mul_node);
    CHECK(mul_node->saved_bytes() == 2 * 64 * 32 * sizeof(double));
    y.backward();
    CHECK(mul_node->saved_bytes() == 0);
    CHECK(mul_node->released);
}

TEST_CASE("a non-scalar output needs an explicit seed") {
    Tensor<double> x = tgtest::random_tensor({3, 2}, 2);
    Tensor<double> y = x * 2.0;
    CHECK_THROWS_AS(y.backward(), tg::GraphError);
    SUBCASE("a seed of the wrong shape is a ShapeError") {
        CHECK_THROWS_AS(y.backward(Array<double>(xt::ones<double>({2, 3}))), tg::ShapeError);
    }
    SUBCASE("a seed of the output's shape works") {
        Array<double> seed = {{1., 2.}, {3., 4.}, {5., 6.}};
        y.backward(seed);
        CHECK(tgtest::max_abs_diff<double>(x.grad(), 2.0 * seed) == 0.0);
    }
}

TEST_CASE("nothing is recorded under a NoGradGuard") {
    Tensor<double> x = Tensor<double>::scalar(1.0, true);
    {
        tg::NoGradGuard guard;
        Tensor<double> y = x * 2.0 + 1.0;
        CHECK_FALSE(y.requires_grad());
        CHECK_FALSE(y.grad_fn());
        CHECK(y.item() == 3.0);
        CHECK_THROWS_AS(y.backward(), tg::GraphError);
    }
    CHECK(tg::grad_enabled());
    CHECK((x * 2.0).grad_fn());
}

TEST_CASE("a chain of 200,000 nodes runs backward and is freed without recursion") {
    Tensor<double> x = Tensor<double>::scalar(0.5, true);
    Tensor<double> y = x;
    for (int i = 0; i < 200000; ++i) {
        y = y + 1e-6;
    }
    y.backward();
    CHECK(x.grad()() == 1.0);
    CHECK(y.item() == doctest::Approx(0.7));
    y = Tensor<double>();  // tears the chain down; the default destructor would overflow the stack
}

TEST_CASE("retain_grad keeps the gradient of an intermediate") {
    Tensor<double> x = tgtest::random_tensor({4}, 3);
    Tensor<double> h = (x * 3.0).named("h");
    h.retain_grad();
    Tensor<double> other = x * 2.0;  // no retain_grad
    Tensor<double> y = tg::sum(h * h + other);
    y.backward();
    // dy/dh = 2h
    CHECK(tgtest::max_abs_diff<double>(h.grad(), 2.0 * h.value()) < 1e-15);
    CHECK_THROWS_AS(other.grad(), tg::GraphError);
    try {
        other.grad();
    } catch (const tg::GraphError& e) {
        CHECK(std::string(e.what()).find("retain_grad") != std::string::npos);
    }
}

TEST_CASE("detach cuts the tape but shares the values") {
    Tensor<double> x = Tensor<double>::scalar(2.0, true);
    Tensor<double> d = (x * x).detach();
    CHECK_FALSE(d.requires_grad());
    CHECK(d.is_leaf());
    Tensor<double> y = d * x;  // only the direct use of x carries a gradient: dy/dx = d = 4
    y.backward();
    CHECK(x.grad()() == 4.0);
}

TEST_CASE("changing a saved tensor in place before backward is refused") {
    Tensor<double> w = Tensor<double>::scalar(2.0, true);
    Tensor<double> x = Tensor<double>::scalar(3.0, true);
    Tensor<double> y = w * x;
    x.mutable_value()() = 10.0;
    CHECK_THROWS_AS(y.backward(), tg::GraphError);
}

TEST_CASE("only leaves can be marked as requiring a gradient") {
    Tensor<double> x = Tensor<double>::scalar(2.0, true);
    Tensor<double> y = x * 2.0;
    CHECK_THROWS_AS(y.set_requires_grad(false), tg::GraphError);
    Tensor<double> c = Tensor<double>::scalar(1.0);
    c.set_requires_grad();
    CHECK(c.requires_grad());
}

TEST_CASE("topological order puts every tensor after its inputs") {
    Tensor<double> a = Tensor<double>::scalar(1.0, true);
    Tensor<double> b = a * 2.0;
    Tensor<double> c = a + b;
    Tensor<double> d = b * c;
    const auto order = tg::topological_order(d);
    REQUIRE(order.size() == 4);
    CHECK(order.front() == a.impl().get());
    CHECK(order.back() == d.impl().get());
    auto pos = [&](const Tensor<double>& t) {
        return std::find(order.begin(), order.end(), t.impl().get()) - order.begin();
    };
    CHECK(pos(b) < pos(c));
}

TEST_CASE("add and sub hand their output's gradient to the first input without changing what others see") {
    // The engine moves the output's gradient into a's slot (Node::identity_input); the caller's
    // seed, a retained output gradient and a second use of the same gradient must be unaffected.
    Tensor<double> a(Array<double>{{1.0, 2.0}, {3.0, 4.0}}, true);
    Tensor<double> b(Array<double>{10.0, 20.0}, true);
    const Array<double> seed{{1.0, -1.0}, {0.5, 2.0}};
    Tensor<double> y = a + b;
    y.retain_grad();
    y.backward(seed);
    CHECK(seed == Array<double>{{1.0, -1.0}, {0.5, 2.0}});  // the seed is read, never moved from
    CHECK(a.grad() == seed);
    CHECK(y.grad() == seed);
    CHECK(b.grad() == Array<double>{1.5, 1.0});

    a.zero_grad();
    b.zero_grad();
    Tensor<double> d = a - b;              // inside the graph: the gradient is the engine's own
    Tensor<double> loss = tg::sum(d * d);  // dloss/dd = 2d, then a gets 2d and b gets -sum(2d)
    loss.backward();
    const Array<double> two_d = 2.0 * (a.value() - b.value());
    CHECK(a.grad() == two_d);
    CHECK(b.grad() == Array<double>(-xt::sum(two_d, {0})));
    tgtest::check_gradients(
        [](const std::vector<Tensor<double>>& in) {
            Tensor<double> u = in[0] + in[1];
            return tg::sum((u - in[1]) * u);
        },
        {a, b});
}
