// Mixing float32 and float64 tensors in one op is refused, never cast silently.
//
// Note: C++ templates would simply fail to compile a mixed call, with pages of candidates. These
// overloads catch the mixed case instead and throw a DtypeError that names the op, both dtypes
// and both shapes, so the mistake reads the same as every other one (and can be tested).
#pragma once

#include <fmt/format.h>

#include <type_traits>

#include "core/tensor.hpp"

namespace tg {

template <class A, class B>
[[noreturn]] void throw_dtype_mismatch(const char* op, const Tensor<A>& a, const Tensor<B>& b) {
    throw DtypeError(fmt::format(
        "{}: operands have different dtypes: a is {} {}, b is {} {}; tapegrad never casts "
        "silently: convert one side with tg::cast<{}>(t) (the result is a new leaf)",
        op, dtype_name<A>(), shape_str(a.shape()), dtype_name<B>(), shape_str(b.shape()),
        std::is_same_v<A, float> ? "float" : "double"));
}

template <class A, class B>
using if_mixed = std::enable_if_t<!std::is_same_v<A, B>, int>;

// The same values in another dtype, as a new leaf (no gradient flows across the cast).
template <class U, class T>
Tensor<U> cast(const Tensor<T>& t) {
    return Tensor<U>(xt::cast<U>(t.value()));
}

}  // namespace tg
