// Typed errors. Messages follow one form so that a learner can read them without the code:
//   "<op>: <what went wrong>; expected X, got Y" and, where there is one, the fix.
#pragma once

#include <stdexcept>
#include <string>

namespace tg {

// Base of every error tapegrad throws on purpose.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Operands whose shapes do not fit the op (broadcasting, matmul, reshape, seed gradients).
class ShapeError : public Error {
public:
    using Error::Error;
};

// Operands of different element types (float32 with float64): tapegrad never casts silently.
class DtypeError : public Error {
public:
    using Error::Error;
};

// Misuse of the tape: backward twice through a freed graph, backward of a non-scalar without
// a seed, reading a gradient that was never computed.
class GraphError : public Error {
public:
    using Error::Error;
};

// An argument outside its domain (a negative axis count, an unknown option, a bad file).
class ValueError : public Error {
public:
    using Error::Error;
};

// A NaN or an infinity met under a DetectAnomalyGuard (core/anomaly.hpp).
class AnomalyError : public Error {
public:
    using Error::Error;
};

// A file that cannot be read or written, or whose contents are not what they claim to be.
class IoError : public Error {
public:
    using Error::Error;
};

}  // namespace tg
