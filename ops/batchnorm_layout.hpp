// Where batch norm's features sit in x: the statistics are taken over `axes` and the axes kept form
// the feature (channel) block. PyTorch's layout reduces every axis but 1 ((N, C), (N, C, L),
// (N, C, H, W)); NumPy tutorials reduce axis 0 only, making every other element its own feature.
// Both are one call away.
#pragma once

#include "core/tensor.hpp"

namespace tg {

// x viewed as (outer, channels, inner): the reduced axes are a leading block and a trailing block,
// the kept ones in between.
struct ChannelLayout {
    std::size_t outer = 1;
    std::size_t channels = 1;
    std::size_t inner = 1;
    Shape stat_shape;   // the kept axes: the shape of mean, var, gamma and beta
    Shape keep_shape;   // x's shape with reduced axes set to 1, for broadcasting
    std::size_t count() const { return outer * inner; }  // values per feature (n)
};

// Throws ShapeError naming `op` if the kept axes are not contiguous.
ChannelLayout channel_layout(const char* op, const Shape& x, const Axes& axes);

// Throws ShapeError naming `op` and `what` unless `shape` has one value per feature.
void check_per_feature(const char* op, const char* what, const Shape& shape, const ChannelLayout& layout);

// The axes PyTorch normalises over: every axis but 1 (the channels).
Axes channel_axes(std::size_t rank);

}  // namespace tg
