// Element-wise ops with NumPy broadcasting. Scalars (`x + 1e-5`, `2.0 * x`) take the tensor's
// dtype, as Python numbers do in PyTorch.
#pragma once

#include "ops/dtype.hpp"

namespace tg {

template <class T> Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b);
template <class T> Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b);
template <class T> Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b);
template <class T> Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b);
template <class T> Tensor<T> neg(const Tensor<T>& x);
template <class T> Tensor<T> pow(const Tensor<T>& x, double exponent);
template <class T> Tensor<T> sqrt(const Tensor<T>& x);
template <class T> Tensor<T> exp(const Tensor<T>& x);
template <class T> Tensor<T> log(const Tensor<T>& x);
template <class T> Tensor<T> abs(const Tensor<T>& x);

// A scalar as a constant 0-d tensor of the same dtype (it shows as a leaf in drawings).
template <class T>
Tensor<T> constant_like(double value) {
    return Tensor<T>::scalar(static_cast<T>(value));
}

// Scalar operands.
template <class T> Tensor<T> add(const Tensor<T>& a, double b) { return add(a, constant_like<T>(b)); }
template <class T> Tensor<T> add(double a, const Tensor<T>& b) { return add(constant_like<T>(a), b); }
template <class T> Tensor<T> sub(const Tensor<T>& a, double b) { return sub(a, constant_like<T>(b)); }
template <class T> Tensor<T> sub(double a, const Tensor<T>& b) { return sub(constant_like<T>(a), b); }
template <class T> Tensor<T> mul(const Tensor<T>& a, double b) { return mul(a, constant_like<T>(b)); }
template <class T> Tensor<T> mul(double a, const Tensor<T>& b) { return mul(constant_like<T>(a), b); }
template <class T> Tensor<T> div(const Tensor<T>& a, double b) { return div(a, constant_like<T>(b)); }
template <class T> Tensor<T> div(double a, const Tensor<T>& b) { return div(constant_like<T>(a), b); }

// Mixed dtypes: refused with a DtypeError.
template <class A, class B, if_mixed<A, B> = 0>
Tensor<A> add(const Tensor<A>& a, const Tensor<B>& b) { throw_dtype_mismatch("add", a, b); }
template <class A, class B, if_mixed<A, B> = 0>
Tensor<A> sub(const Tensor<A>& a, const Tensor<B>& b) { throw_dtype_mismatch("sub", a, b); }
template <class A, class B, if_mixed<A, B> = 0>
Tensor<A> mul(const Tensor<A>& a, const Tensor<B>& b) { throw_dtype_mismatch("mul", a, b); }
template <class A, class B, if_mixed<A, B> = 0>
Tensor<A> div(const Tensor<A>& a, const Tensor<B>& b) { throw_dtype_mismatch("div", a, b); }

// C++ operators, so that expressions read like the maths.
template <class A, class B> Tensor<A> operator+(const Tensor<A>& a, const Tensor<B>& b) { return add(a, b); }
template <class A, class B> Tensor<A> operator-(const Tensor<A>& a, const Tensor<B>& b) { return sub(a, b); }
template <class A, class B> Tensor<A> operator*(const Tensor<A>& a, const Tensor<B>& b) { return mul(a, b); }
template <class A, class B> Tensor<A> operator/(const Tensor<A>& a, const Tensor<B>& b) { return div(a, b); }
template <class T> Tensor<T> operator+(const Tensor<T>& a, double b) { return add(a, b); }
template <class T> Tensor<T> operator+(double a, const Tensor<T>& b) { return add(a, b); }
template <class T> Tensor<T> operator-(const Tensor<T>& a, double b) { return sub(a, b); }
template <class T> Tensor<T> operator-(double a, const Tensor<T>& b) { return sub(a, b); }
template <class T> Tensor<T> operator*(const Tensor<T>& a, double b) { return mul(a, b); }
template <class T> Tensor<T> operator*(double a, const Tensor<T>& b) { return mul(a, b); }
template <class T> Tensor<T> operator/(const Tensor<T>& a, double b) { return div(a, b); }
template <class T> Tensor<T> operator/(double a, const Tensor<T>& b) { return div(a, b); }
template <class T> Tensor<T> operator-(const Tensor<T>& x) { return neg(x); }

}  // namespace tg
