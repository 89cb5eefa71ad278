#include "ops/batchnorm_layout.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <vector>

namespace tg {

ChannelLayout channel_layout(const char* op, const Shape& x, const Axes& axes) {
    std::vector<bool> reduced(x.size(), false);
    for (std::size_t a : axes) {
        if (a >= x.size()) {
            throw ShapeError(fmt::format("{}: axis {} is out of range for an input of shape {}", op,
                                         a, shape_str(x)));
        }
        reduced[a] = true;
    }
    // first kept axis .. one past the last kept axis
    std::size_t k = 0;
    while (k < x.size() && reduced[k]) {
        ++k;
    }
    std::size_t j = k;
    while (j < x.size() && !reduced[j]) {
        ++j;
    }
    for (std::size_t a = j; a < x.size(); ++a) {
        if (!reduced[a]) {
            throw ShapeError(fmt::format(
                "{}: the axes kept as features must be contiguous; reducing over [{}] of shape {} "
                "leaves them split",
                op, fmt::join(axes, ", "), shape_str(x)));
        }
    }
    ChannelLayout layout;
    layout.keep_shape = x;
    for (std::size_t a = 0; a < x.size(); ++a) {
        if (a < k) {
            layout.outer *= x[a];
        } else if (a < j) {
            layout.channels *= x[a];
            layout.stat_shape.push_back(x[a]);
        } else {
            layout.inner *= x[a];
        }
        if (reduced[a]) {
            layout.keep_shape[a] = 1;
        }
    }
    return layout;
}

void check_per_feature(const char* op, const char* what, const Shape& shape, const ChannelLayout& L) {
    if (shape != L.stat_shape) {
        throw ShapeError(fmt::format("{}: {} must have one value per feature; expected shape {}, got {}", op, what,
                                     shape_str(L.stat_shape), shape_str(shape)));
    }
}

Axes channel_axes(std::size_t rank) {
    Axes axes{0};
    for (std::size_t a = 2; a < rank; ++a) {
        axes.push_back(a);
    }
    return axes;
}

}  // namespace tg
