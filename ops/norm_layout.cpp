#include "ops/norm_layout.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
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

NormLayout layernorm_layout(const char* op, const Shape& x, const Shape& normalized_shape) {
    const std::size_t k = normalized_shape.size();
    if (k == 0 || k > x.size() || !std::equal(normalized_shape.begin(), normalized_shape.end(), x.end() - static_cast<long>(k))) {
        throw ShapeError(fmt::format(
            "{}: normalized_shape {} must be the input's trailing dimensions; got input of shape {}. Give the "
            "last dimension (as nn.LayerNorm({}) does) or several trailing ones",
            op, shape_str(normalized_shape), shape_str(x), x.empty() ? 0 : x.back()));
    }
    NormLayout L;
    L.groups = 1;
    L.channels = shape_numel(normalized_shape);
    L.outer = L.channels ? shape_numel(x) / L.channels : 0;
    if (L.channels == 1) {
        throw ValueError(fmt::format(
            "{}: each sample's normalized_shape {} holds a single value, whose variance is 0; normalise over "
            "more values",
            op, shape_str(normalized_shape)));
    }
    return L;
}

NormLayout groupnorm_layout(const char* op, const Shape& x, std::size_t groups) {
    if (x.size() < 2) {
        throw ShapeError(fmt::format("{}: expected an input of shape (N, C, *), got {}", op, shape_str(x)));
    }
    const std::size_t c = x[1];
    if (groups == 0 || c % groups != 0) {
        throw ValueError(fmt::format(
            "{}: {} channels do not split into {} groups; num_groups must divide the channels (input of shape {})",
            op, c, groups, shape_str(x)));
    }
    NormLayout L;
    L.groups = groups;
    L.outer = x[0];
    L.channels = c;
    L.inner = 1;
    for (std::size_t a = 2; a < x.size(); ++a) {
        L.inner *= x[a];
    }
    if (L.count() == 1) {
        throw ValueError(fmt::format(
            "{}: each group holds a single value ({} channels in {} groups, input of shape {}), whose variance is "
            "0; use fewer groups or a larger input",
            op, c, groups, shape_str(x)));
    }
    return L;
}

}  // namespace tg
