// The one door to xtensor. Every other file of tapegrad includes this header instead of
// xtensor's own, so the library's choice of containers and the traps listed next to them
// stay in one place.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xsort.hpp>
#include <xtensor/xview.hpp>

#include "core/pool.hpp"

namespace tg {

// Values and gradients are always evaluated, row-major, dynamically shaped containers, whose
// storage comes from tapegrad's pool (core/pool.hpp: small blocks from per-thread free lists).
// Note: never keep an xtensor expression (an `auto` of a lazy sum, view or broadcast) beyond
// the statement that builds it: reducers re-evaluate per element and views dangle.
template <class T>
using Array = xt::xarray<T, xt::layout_type::row_major, pool::Allocator<T>>;

// A shape is the container xtensor keeps an array's shape in: up to four sizes held inline, so
// that reading a tensor's shape, broadcasting two of them or recording one in a node allocates
// nothing.
using Shape = xt::svector<std::size_t, 4>;
static_assert(std::is_same_v<Shape, Array<double>::shape_type>, "tg::Shape is an Array's own shape type");
using Axes = std::vector<std::size_t>;

// An uninitialised Array of a shape: use it instead of xt::empty, whose container has another
// allocator and would be copied into an Array element by element.
template <class T>
Array<T> empty(const Shape& shape) {
    return Array<T>::from_shape(shape);
}
template <class T, class S>
Array<T> empty(const S& shape) {
    return Array<T>::from_shape(shape);
}

// "[2, 3]" for error messages, traces and drawings; "[]" for a 0-d scalar.
std::string shape_str(const Shape& shape);

template <class T>
constexpr const char* dtype_name() {
    if constexpr (std::is_same_v<T, float>) {
        return "float32";
    } else if constexpr (std::is_same_v<T, double>) {
        return "float64";
    } else {
        return "unsupported";
    }
}

std::size_t shape_numel(const Shape& shape);

}  // namespace tg
