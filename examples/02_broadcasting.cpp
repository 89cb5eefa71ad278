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
    (col * row).backward(Array<double>(xt::ones<double>({4, 3})));
    lesson::claim(col.grad() == Array<double>(60.0 * xt::ones<double>({4, 1})), "d(col*row)/dcol sums row over its 3 columns: 60");
    lesson::claim(row.grad() == Array<double>{{10., 10., 10.}}, "d(col*row)/drow sums col over its 4 rows: 10");
    return lesson::finish();
}
