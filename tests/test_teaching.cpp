// What a student meets first: the walkthrough's defaults and wording, the rules worked out with a
// step's own numbers, the compare report's notes, and the grader's words for a near-zero quantity.
#include <cmath>
#include <regex>

#include "cli_helpers.hpp"

using tg::Array;
using tg::Tensor;
using namespace tgtest;

namespace {

// The batch-norm exercise's case traced through the composite graph: the steps a page walks.
tg::see::Trace<double> bn_trace() { return tg::grade::bn_exercise_trace(tg::grade::make_bn_exercise(0)); }

// Every contribution of a trace that has a worked element: its value is the element of what was sent.
template <class T>
std::size_t check_worked(const tg::see::Trace<T>& trace) {
    std::size_t worked = 0;
    for (const auto& s : trace.steps) {
        for (const auto& c : s.sent) {
            const auto w = tg::see::worked_element(trace, s, c);
            if (!w) {
                continue;
            }
            ++worked;
            const double expected = static_cast<double>(c.grad.data()[c.grad.size() > 1 ? 1 : 0]);
            CAPTURE(w->text);
            CHECK(std::abs(w->value - expected) <= 1e-12 + 1e-9 * std::abs(expected));
            CHECK(w->text.rfind("dL/d" + c.to + w->index + " = ", 0) == 0);
        }
    }
    return worked;
}

}  // namespace

TEST_CASE("every rule of the batch-norm graph is worked out for one element, and adds up to what the engine sent") {
    const auto trace = bn_trace();
    std::size_t contributions = 0;
    for (const auto& s : trace.steps) {
        contributions += s.sent.size();
    }
    CHECK(check_worked(trace) == contributions);  // every op of the composite graph is spelled out

    auto line = [&](const std::string& from, const std::string& to) {
        const auto* s = trace.step(from);
        REQUIRE(s != nullptr);
        for (const auto& c : s->sent) {
            if (c.to == to) {
                return tg::see::worked_element(trace, *s, c)->text;
            }
        }
        FAIL("no contribution from " << from << " to " << to);
        return std::string();
    };
    // one element: the chain rule with the step's own numbers
    CHECK(line("xhat", "xc").rfind("dL/dxc[0, 1] = dL/dxhat[0, 1] / std[1] = ", 0) == 0);
    // a broadcast input gathers one term per row: a sum over i, each term written out
    const std::string dstd = line("xhat", "std");
    CAPTURE(dstd);
    CHECK(dstd.rfind("dL/dstd[1] = sum_i -dL/dxhat[i, 1] * xc[i, 1] / std[1]^2 = ", 0) == 0);
    CHECK(std::count(dstd.begin(), dstd.end(), '+') == 3);  // N = 4 terms
    CHECK(line("std", "add_1").find(" / (2 * std[1])") != std::string::npos);
    CHECK(line("mu", "X").rfind("dL/dX[0, 1] = dL/dmu[1] / 4 = ", 0) == 0);
    const std::string pow_line = line(trace.steps[6].output, "xc");
    CHECK(pow_line.find(" * 2 * xc[0, 1]^1 = ") != std::string::npos);
}

TEST_CASE("worked elements of makemore's network (matmul, tanh, exp, log, sums, reshape) add up too") {
    const auto trace = tg::grade::mlp_exercise_trace(tg::grade::make_mlp_exercise(0));
    CHECK(check_worked(trace) >= 20);
    // matmul spelled out as its sum over the shared axis
    Tensor<double> a(Array<double>{{1.0, 2.0, 3.0, 4.0, 5.0}}, true);
    Tensor<double> b(Array<double>{{1.0, -1.0}, {2.0, 0.5}, {0.0, 1.0}, {1.5, 2.0}, {-1.0, 1.0}}, true);
    const Tensor<double> m = tg::matmul(a.named("a"), b.named("b")).named("m");
    const auto t = tg::see::trace_backward<double>(tg::sum(m));
    const auto* s = t.step("m");
    REQUIRE(s != nullptr);
    for (const auto& c : s->sent) {
        const auto w = tg::see::worked_element(t, *s, c);
        REQUIRE(w);
        if (c.to == "a") {
            CHECK(w->text == "dL/da[0, 1] = sum_q dL/dm[0, q] * b[1, q] = 1 * 2 + 1 * 0.5 = 2.5");
        } else {
            CHECK(w->text == "dL/db[0, 1] = sum_i a[i, 0] * dL/dm[i, 1] = 1 * 1 = 1");
        }
    }
}

TEST_CASE("the walkthrough's defaults show every step: gamma and beta away from 1 and 0, the tape from X") {
    TempDir dir;
    const Run r = tapegrad(dir, "walkthrough --repeats 1 --out " + (dir / "w"));
    INFO(r.err);
    REQUIRE(r.code == 0);
    // the case in full, gamma and beta random (not ones and zeros)
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex(R"(gamma = \[([^\]]*)\]   \(random\))")));
    CHECK(m[1].str() != "1, 1, 1");
    REQUIRE(std::regex_search(r.out, m, std::regex(R"(beta  = \[([^\]]*)\]   \(random\))")));
    CHECK(m[1].str() != "0, 0, 0");
    // the mul and add steps change the values: y is not xhat
    const std::size_t xhat_at = r.out.find("  xhat   = div(xc, std)\n");
    const std::size_t y_at = r.out.find("  y      = add(mul_1, beta)\n");
    REQUIRE(xhat_at != std::string::npos);
    REQUIRE(y_at != std::string::npos);
    const std::string xhat_values = r.out.substr(xhat_at, r.out.find('\n', r.out.find('\n', xhat_at) + 1) - xhat_at);
    const std::string y_values = r.out.substr(y_at, r.out.find('\n', r.out.find('\n', y_at) + 1) - y_at);
    CHECK(xhat_values.substr(xhat_values.find('[')) != y_values.substr(y_values.find('[')));
    // the forward pass starts at X: the first tensor printed is X, gamma comes just before its mul
    const std::size_t forward = r.out.find("Forward pass (float64)");
    REQUIRE(forward != std::string::npos);
    CHECK(r.out.find("\n  X      = (input)", forward) < r.out.find("\n  mu     = mean(X", forward));
    CHECK(r.out.find("\n  gamma  = (input)", forward) > r.out.find("\n  xhat   = div", forward));
    // --gamma and --beta still replace them
    Tensor<double> g(Array<double>{2.0, 2.0, 2.0});
    tg::io::save_npy(dir / "g.npy", g.value());
    const Run given = tapegrad(dir, "trace --gamma " + (dir / "g.npy"));
    REQUIRE(given.code == 0);
    CHECK(has(given.out, "  gamma  = (input)\n           [2, 2, 2]"));
}

TEST_CASE("every textbook line names the step it is read from, dL/dgamma and dL/dy too") {
    const auto trace = bn_trace();
    const auto lines = tg::see::textbook_lines(trace, tg::see::NormKind::batch);
    REQUIRE(lines.size() == 13);
    for (const auto& l : lines) {
        CAPTURE(l.quantity);
        CAPTURE(l.source);
        CHECK(std::regex_search(l.source, std::regex(R"(step \[\d+\] \()")));
    }
    CHECK(has(lines[2].source, "step [2] (mul_1 = mul(gamma, xhat))"));
}

TEST_CASE("walkthrough --kind group, larger than --max-values, still prints dL/dy in full") {
    TempDir dir;
    const Run r = tapegrad(dir, "walkthrough --kind group --groups 3 --d 6 --repeats 1 --out " + (dir / "w"));
    INFO(r.err);
    REQUIRE(r.code == 0);
    // the case's dL/dy: 24 values, more than --max-values 12, all of them
    const std::size_t at = r.out.find("  dL/dy = [[");
    REQUIRE(at != std::string::npos);
    const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
    CHECK(std::count(line.begin(), line.end(), ',') == 23);
    // and in the textbook's reading
    const std::size_t book = r.out.find("  dL/dy               given: the upstream gradient");
    REQUIRE(book != std::string::npos);
    const std::size_t value = r.out.find("= [[", book);
    CHECK(value < r.out.find('\n', r.out.find('\n', book) + 1));
}

TEST_CASE("compare says why the last bits differ, what agreement is, and what its node counts count") {
    TempDir dir;
    const Run r = tapegrad(dir, "compare --repeats 1");
    REQUIRE(r.code == 0);
    CHECK(has(r.out, "floating-point addition is not associative"));
    CHECK(has(r.out, "about 1e-8 and below is agreement"));
    CHECK(has(r.out, "op nodes on the tape: the ops the backward pass walks"));
    for (const char* order : {"2", "3"}) {
        CAPTURE(order);
        const Run o = tapegrad(dir, std::string("compare --repeats 1 --order ") + order);
        REQUIRE(o.code == 0);
        CHECK(has(o.out, std::string("op nodes in the derivative's graph: every op behind the order-") + order +
                             " derivative"));
        CHECK(has(o.out, "the first backward recorded as ops"));
    }
    const Run html = tapegrad(dir, "compare --repeats 1 --format html");
    REQUIRE(html.code == 0);
    CHECK(has(html.out, "1e-8 and below is agreement"));
    CHECK(has(html.out, "not associative"));
}

TEST_CASE("a near-zero quantity graded close says why its relative difference is large") {
    TempDir dir;
    tg::grade::Quantity q;
    q.file = "dtiny";
    q.symbol = "dL/dtiny";
    q.expected = Array<double>{1e-17, -2e-17, 0.0};
    tg::io::save_npy(dir / "dtiny.npy", Array<double>{3e-17, -1e-17, 1e-18});
    const auto r = tg::grade::check_gradients({q}, dir.path.string());
    REQUIRE(r.rows.size() == 1);
    CHECK(r.rows[0].status == tg::grade::Status::close);
    CHECK(r.rows[0].max_rel > 0.5);  // 2e-17 off a largest value of 2e-17
    CHECK(has(r.rows[0].hint, "the quantity is near zero (its largest value is 2e-17)"));
    CHECK(has(tg::grade::check_text(r, {q}), "the quantity is near zero"));
    // a quantity of ordinary size, close within rtol, gets no such note
    tg::grade::Quantity big = q;
    big.expected = Array<double>{1.0, 2.0, 3.0};
    tg::io::save_npy(dir / "dtiny.npy", Array<double>{1.0 + 1e-12, 2.0, 3.0});
    const auto ok = tg::grade::check_gradients({big}, dir.path.string());
    CHECK(ok.rows[0].status == tg::grade::Status::close);
    CHECK(ok.rows[0].hint.empty());
}
