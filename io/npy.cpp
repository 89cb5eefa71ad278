#include "io/npy.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>

#include "io/files.hpp"

namespace tg::io {

namespace {

template <class T>
const char* descr_of() {
    if constexpr (std::is_same_v<T, float>) {
        return "<f4";
    } else if constexpr (std::is_same_v<T, double>) {
        return "<f8";
    } else {
        static_assert(std::is_same_v<T, std::int64_t>, "npy: unsupported element type");
        return "<i8";
    }
}

[[noreturn]] void bad(const std::string& path, const std::string& what) {
    throw IoError(fmt::format("{}: not a valid .npy file: {}", path, what));
}

// The value of `key` in the header dictionary, as the raw text up to the next top-level comma.
std::string dict_value(const std::string& path, const std::string& header, const std::string& key) {
    const std::string quoted = "'" + key + "'";
    const std::size_t k = header.find(quoted);
    if (k == std::string::npos) {
        bad(path, fmt::format("the header has no {}", quoted));
    }
    std::size_t p = header.find(':', k + quoted.size());
    if (p == std::string::npos) {
        bad(path, fmt::format("the header's {} has no value", quoted));
    }
    ++p;
    while (p < header.size() && header[p] == ' ') {
        ++p;
    }
    if (p < header.size() && header[p] == '(') {
        const std::size_t close = header.find(')', p);
        if (close == std::string::npos) {
            bad(path, "the shape tuple is not closed");
        }
        return header.substr(p, close - p + 1);
    }
    const std::size_t end = header.find_first_of(",}", p);
    if (end == std::string::npos) {
        bad(path, fmt::format("the header's {} is not terminated", quoted));
    }
    return header.substr(p, end - p);
}

Shape parse_shape(const std::string& path, const std::string& tuple) {
    // Python's tuple syntax as NumPy writes it: "(3, 4)", "(5,)" or "()". The element count,
    // leaving out zero dimensions, must fit in 2^62 bytes' worth, so that no stride overflows.
    auto refuse = [&](const char* what) {
        bad(path, fmt::format("the shape {} {}; expected a tuple of non-negative integers such as (3, 4)", tuple, what));
    };
    if (tuple.size() < 2 || tuple.front() != '(' || tuple.back() != ')') {
        refuse("is not a tuple");
    }
    constexpr std::size_t limit = std::size_t{1} << 62;
    Shape shape;
    std::size_t nonzero_total = 1;
    std::size_t p = 1;
    const std::size_t end = tuple.size() - 1;
    auto skip_spaces = [&] {
        while (p < end && tuple[p] == ' ') ++p;
    };
    skip_spaces();
    while (p < end) {
        if (tuple[p] < '0' || tuple[p] > '9') {
            refuse("is not a tuple of integers");
        }
        std::size_t d = 0;
        while (p < end && tuple[p] >= '0' && tuple[p] <= '9') {
            d = d * 10 + static_cast<std::size_t>(tuple[p] - '0');
            if (d > limit) {
                refuse("has a dimension too large to address");
            }
            ++p;
        }
        if (d != 0) {
            if (nonzero_total > limit / d) {
                refuse("has more elements than can be addressed");
            }
            nonzero_total *= d;
        }
        shape.push_back(d);
        if (shape.size() > 32) {
            refuse("has more than 32 dimensions");
        }
        skip_spaces();
        if (p < end) {
            if (tuple[p] != ',') {
                refuse("needs commas between its dimensions");
            }
            ++p;
            skip_spaces();
        }
    }
    return shape;
}

}  // namespace

std::string npy_dtype_name(const std::string& descr) {
    if (descr == "<f4") return "float32";
    if (descr == "<f8") return "float64";
    if (descr == "<f2") return "float16";
    if (descr == "<i8") return "int64";
    if (descr == "<i4") return "int32";
    if (descr == "|u1") return "uint8";
    if (descr == "|b1") return "bool";
    return descr;
}

NpyInfo read_npy_info(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw IoError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
    }
    char magic[8] = {};
    in.read(magic, 8);
    if (in.gcount() != 8 || std::memcmp(magic, "\x93NUMPY", 6) != 0) {
        bad(path, "it does not start with the magic string \\x93NUMPY");
    }
    const int major = static_cast<unsigned char>(magic[6]);
    std::size_t header_len = 0;
    std::size_t prefix = 0;
    if (major == 1) {
        unsigned char b[2] = {};
        in.read(reinterpret_cast<char*>(b), 2);
        header_len = b[0] | (static_cast<std::size_t>(b[1]) << 8);
        prefix = 10;
    } else if (major == 2 || major == 3) {
        unsigned char b[4] = {};
        in.read(reinterpret_cast<char*>(b), 4);
        header_len = b[0] | (static_cast<std::size_t>(b[1]) << 8) |
                     (static_cast<std::size_t>(b[2]) << 16) | (static_cast<std::size_t>(b[3]) << 24);
        prefix = 12;
    } else {
        bad(path, fmt::format("unknown format version {}", major));
    }
    if (!in || header_len > (1u << 20)) {
        bad(path, "the header length is missing or absurd");
    }
    std::string header(header_len, '\0');
    in.read(header.data(), static_cast<std::streamsize>(header_len));
    if (static_cast<std::size_t>(in.gcount()) != header_len) {
        bad(path, "the file ends inside its header");
    }

    NpyInfo info;
    // descr is a quoted type string: byte order, kind, size ('<f8')
    std::string descr = dict_value(path, header, "descr");
    const std::size_t a = descr.find('\'');
    const std::size_t b = a == std::string::npos ? a : descr.find('\'', a + 1);
    const std::string inner = b == std::string::npos ? "" : descr.substr(a + 1, b - a - 1);
    const bool well_formed = inner.size() >= 3 && std::string("<>|=").find(inner[0]) != std::string::npos &&
                             std::isalpha(static_cast<unsigned char>(inner[1])) &&
                             inner.find_first_not_of("0123456789", 2) == std::string::npos;
    if (!well_formed) {
        bad(path, fmt::format("unsupported descr {}", descr));
    }
    info.descr = inner;
    const std::string fortran = dict_value(path, header, "fortran_order");
    if (fortran.find("True") != std::string::npos) {
        info.fortran_order = true;
    } else if (fortran.find("False") == std::string::npos) {
        bad(path, fmt::format("fortran_order is {}, expected True or False", fortran));
    }
    const std::string tuple = dict_value(path, header, "shape");
    if (tuple.size() < 2 || tuple.front() != '(' || tuple.back() != ')') {
        bad(path, fmt::format("the shape {} is not a tuple", tuple));
    }
    info.shape = parse_shape(path, tuple);
    info.data_offset = prefix + header_len;
    return info;
}

template <class T>
Array<T> load_npy(const std::string& path) {
    const NpyInfo info = read_npy_info(path);
    if (info.descr != descr_of<T>()) {
        throw DtypeError(fmt::format("{}: holds {} values, expected {}; convert it with "
                                     "numpy's astype before loading",
                                     path, npy_dtype_name(info.descr), npy_dtype_name(descr_of<T>())));
    }
    // Check the size the header claims against the file before allocating anything.
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    const auto file_size = static_cast<std::size_t>(in.tellg());
    const std::size_t n = shape_numel(info.shape);
    if (n > (file_size / sizeof(T)) + 1 || file_size - info.data_offset != n * sizeof(T)) {
        bad(path, fmt::format("its header claims shape {} ({} bytes of data) but the file has {}",
                              shape_str(info.shape), n * sizeof(T),
                              file_size >= info.data_offset ? file_size - info.data_offset : 0));
    }
    Shape storage_shape = info.shape;
    if (info.fortran_order) {
        std::reverse(storage_shape.begin(), storage_shape.end());
    }
    Array<T> a = tg::empty<T>(storage_shape);
    in.seekg(static_cast<std::streamoff>(info.data_offset));
    in.read(reinterpret_cast<char*>(a.data()), static_cast<std::streamsize>(n * sizeof(T)));
    if (!in) {
        bad(path, "the data could not be read in full");
    }
    if (info.fortran_order && a.dimension() > 1) {
        return Array<T>(xt::transpose(a));
    }
    return a;
}

template <class T>
void save_npy(const std::string& path, const Array<T>& array) {
    std::string shape = "(";
    for (std::size_t d : array.shape()) {
        shape += fmt::format("{}, ", d);
    }
    if (array.dimension() > 1) {
        shape.resize(shape.size() - 1);
        shape.back() = ')';
    } else {
        shape += ")";
        if (array.dimension() == 1) {
            shape.erase(shape.size() - 2, 1);  // "(5,)"
        } else {
            shape = "()";
        }
    }
    std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
                                     descr_of<T>(), shape);
    // pad with spaces so that the data starts on a multiple of 64 bytes, ending the header with \n
    const std::size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header += '\n';

    const char prefix[10] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<char>(header.size() & 0xff),
                             static_cast<char>(header.size() >> 8)};
    write_file_atomically(path, {std::string_view(prefix, sizeof prefix), header,
                                 std::string_view(reinterpret_cast<const char*>(array.data()), array.size() * sizeof(T))});
}

template Array<float> load_npy(const std::string&);
template Array<double> load_npy(const std::string&);
template Array<std::int64_t> load_npy(const std::string&);
template void save_npy(const std::string&, const Array<float>&);
template void save_npy(const std::string&, const Array<double>&);
template void save_npy(const std::string&, const Array<std::int64_t>&);

}  // namespace tg::io
