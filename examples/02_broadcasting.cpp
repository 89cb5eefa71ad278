// Lesson 2: why broadcasting makes gradients sum.
//
// Adding a bias b of shape [3] to X of shape [4, 3] copies b into each of the 4 rows. A copy used
// 4 times receives 4 gradients, and the chain rule adds them: dL/db = sum over rows of dL/dy.
// The adjoint of a broadcast is a sum, done in one place: tg::sum_to_shape.
#include "examples/lesson.hpp"

int main() {
    using tg::Array;
    using tg::Tensor;
    fmt::print("Lesson 2: a broadcast operand's gradient is summed over the axes it was copied along\n\n");
    Tensor<double> X(Array<double>{{1., 2., 3.}, {4., 5., 6.}, {7., 8., 9.}, {10., 11., 12.}});
    Tensor<double> b = Tensor<double>(Array<double>{0.1, 0.2, 0.3}, true).named("b");
    Tensor<double> y = (X + b).named("y");
    const Array<double> dy = {{1., 0., 2.}, {1., 1., 0.}, {0., 3., 1.}, {2., 0., 1.}};
    const auto trace = tg::see::trace_backward<double>(y, dy);
    fmt::print("{}\n", tg::see::trace_text(trace));

    const Array<double> by_hand = xt::sum(dy, {0});
    fmt::print("dL/db by hand, the column sums of dL/dy: {}\n\n", tg::see::show(by_hand, 12));
    lesson::claim(b.grad() == by_hand, "dL/db is the sum of dL/dy over the 4 rows b was copied into");

    // [4, 1] against [1, 3]: both sides stretch, and each gradient sums over the other's axis
    Array<double> column = {1., 2., 3., 4.};
    column.reshape({4, 1});
    Tensor<double> col = Tensor<double>(column, true).named("col");
    Tensor<double> row = Tensor<double>(Array<double>{{10., 20., 30.}}, true).named("row");
    // a non-uniform upstream gradient: all ones would hide a sum over the wrong axis
    const Array<double> g = {{1., 0., 2.}, {-1., 1., 0.}, {0., 3., 1.}, {2., 0., -1.}};
    (col * row).backward(g);
    // by hand: dcol[i] = sum_j g[i, j] row[j], drow[j] = sum_i g[i, j] col[i]
    Array<double> dcol = {70., 10., 90., -10.};
    dcol.reshape({4, 1});
    const Array<double> drow = {{7., 11., 1.}};
    fmt::print("[4, 1] * [1, 3] with dL/dy = {}:\n  dL/dcol = {} (summed over the 3 columns)\n  dL/drow = {} (summed over the 4 rows)\n\n",
               tg::see::show(g, 12), tg::see::show(col.grad(), 12), tg::see::show(row.grad(), 12));
    lesson::claim(col.grad() == dcol, "d(col*row)/dcol sums g * row over the 3 columns it was copied along");
    lesson::claim(row.grad() == drow, "d(col*row)/drow sums g * col over the 4 rows it was copied along");
    return lesson::finish();
}
