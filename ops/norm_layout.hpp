// Which values of x each member of the normalisation family normalises together (a "set": the
// values that share one mean and one variance). x is viewed as (outer, channels, inner), gamma and
// beta have one value per channel, and the sets lie one of two ways:
//
//   across the batch   batch norm: one set per channel, its outer * inner values (groups = 0)
//   per sample         layer norm and group norm: one set per sample and group, its channels /
//                      groups * inner values, contiguous in memory (groups >= 1)
//
// Layer norm is the per-sample case with one group whose channels are the normalized_shape's
// values (inner = 1); group norm of (N, C, *) has N samples, C channels, G groups and the spatial
// size as inner. The kernels (ops/norm_kernels.hpp) take this one description.
#pragma once

#include "core/tensor.hpp"

namespace tg {

struct NormLayout {
    std::size_t outer = 1;
    std::size_t channels = 1;
    std::size_t inner = 1;
    std::size_t groups = 0;  // 0: across the batch; G: per sample, in G groups of channels

    bool across_batch() const { return groups == 0; }
    // how many means and variances there are
    std::size_t sets() const { return across_batch() ? channels : outer * groups; }
    // values per set: the N of the closed form
    std::size_t count() const { return across_batch() ? outer * inner : channels / groups * inner; }
};

// ---- batch norm: the statistics are taken over `axes`, the axes kept form the channel block -------
//
// PyTorch reduces every axis but 1 ((N, C), (N, C, L), (N, C, H, W)); NumPy tutorials reduce axis 0
// only, making every other element its own feature. Both are one call away.

struct ChannelLayout : NormLayout {
    Shape stat_shape;  // the kept axes: the shape of mean, var, gamma and beta
    Shape keep_shape;  // x's shape with reduced axes set to 1, for broadcasting
};

// Throws ShapeError naming `op` if the kept axes are not contiguous.
ChannelLayout channel_layout(const char* op, const Shape& x, const Axes& axes);

// Throws ShapeError naming `op` and `what` unless `shape` has one value per feature.
void check_per_feature(const char* op, const char* what, const Shape& shape, const ChannelLayout& layout);

// The axes PyTorch normalises over: every axis but 1 (the channels).
Axes channel_axes(std::size_t rank);

// ---- layer norm and group norm, checked ----------------------------------------------------------
//
// ShapeError when normalized_shape is not x's trailing dimensions or x is not (N, C, *); ValueError
// when the channels do not split into the groups or a set would hold a single value (its variance
// is 0, its gradient meaningless).
NormLayout layernorm_layout(const char* op, const Shape& x, const Shape& normalized_shape);
NormLayout groupnorm_layout(const char* op, const Shape& x, std::size_t groups);

}  // namespace tg
