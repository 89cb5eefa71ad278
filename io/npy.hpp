// NumPy's .npy format, read and written by tapegrad itself so that every check happens before a
// byte is allocated: the header is parsed strictly, the claimed size must match the file, and a
// dtype other than the one asked for is an error, never a cast.
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.hpp"

namespace tg::io {

struct NpyInfo {
    std::string descr;           // e.g. "<f8"
    bool fortran_order = false;  // column-major data (transposed on load)
    Shape shape;
    std::size_t data_offset = 0;  // where the data starts in the file
};

// Reads and validates the header; throws IoError naming the file and what is wrong.
NpyInfo read_npy_info(const std::string& path);

// "float32", "float64", "int64", ... for a descr, or the descr itself if tapegrad has no name for it.
std::string npy_dtype_name(const std::string& descr);

// Loads an array whose dtype is exactly T (float, double or std::int64_t); throws DtypeError if
// the file holds another dtype and IoError if it is not a valid .npy file.
template <class T>
Array<T> load_npy(const std::string& path);

// Writes to a temporary file beside `path` and renames it over `path`, so that a failure leaves
// any previous file intact.
template <class T>
void save_npy(const std::string& path, const Array<T>& array);

}  // namespace tg::io
