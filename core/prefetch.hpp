// prefetch(p, bytes): asks the CPU to start bringing the cache lines of [p, p + bytes) in, for a
// read soon. Walking a large graph of tiny tensors waits on memory, not on arithmetic; asking a
// few steps ahead lets those waits overlap.
//
// Note: written as an asm statement on x86-64 because GCC 12 at -O2 removed every
// __builtin_prefetch of core/engine.cpp's backward loop (checked in the object code); an asm
// statement is never removed.
#pragma once

#include <cstddef>

namespace tg {

inline constexpr std::size_t cache_line = 64;

inline void prefetch(const void* p, std::size_t bytes = cache_line) {
    for (std::size_t at = 0; at < bytes; at += cache_line) {
        const char* line = static_cast<const char*>(p) + at;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        asm volatile("prefetcht0 %0" : : "m"(*line));
#else
        __builtin_prefetch(line);
#endif
    }
}

}  // namespace tg
