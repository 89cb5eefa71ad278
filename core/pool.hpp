// Small blocks for tiny tensors. A graph of one-element tensors (micrograd's scalars, a 4 x 3
// batch norm, a gradient check) makes a handful of small allocations per op: the value, the
// tensor, its storage, the node. glibc's malloc spends more time on them than the op itself
// (measured in bench/DESIGN.md), so blocks of up to 512 bytes come from free lists kept per
// thread, in eight sizes of 64-byte multiples, carved from 64 KiB slabs; larger blocks go to the
// system as before. Blocks are 64-byte aligned, as xtensor's SIMD loads like them. Taking a
// block also asks the cache for the next one of its size, which the next op will take.
//
// Slabs are never returned to the system: a program's peak of small tensors stays reserved for
// it. Built with the sanitizers or for valgrind (TAPEGRAD_POOL off), every block comes from the
// system, so that those tools see each allocation.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <vector>

namespace tg::pool {

inline constexpr std::size_t max_block = 512;
inline constexpr std::size_t alignment = 64;

// `bytes` of storage aligned to 64; never null (std::bad_alloc on failure).
void* allocate(std::size_t bytes);
// Gives back a block from allocate() of the same size, on any thread.
void deallocate(void* p, std::size_t bytes) noexcept;

// A standard allocator over the pool: tg::Array's storage and the engine's shared objects.
template <class T>
struct Allocator {
    using value_type = T;
    Allocator() noexcept = default;
    template <class U>
    Allocator(const Allocator<U>&) noexcept {}
    T* allocate(std::size_t n) {
        if (n > static_cast<std::size_t>(-1) / sizeof(T)) {
            throw std::bad_array_new_length();
        }
        return static_cast<T*>(pool::allocate(n * sizeof(T)));
    }
    void deallocate(T* p, std::size_t n) noexcept { pool::deallocate(p, n * sizeof(T)); }
    template <class U>
    struct rebind {
        using other = Allocator<U>;
    };
};
template <class T, class U>
bool operator==(const Allocator<T>&, const Allocator<U>&) noexcept {
    return true;
}
template <class T, class U>
bool operator!=(const Allocator<T>&, const Allocator<U>&) noexcept {
    return false;
}

// A std::vector whose buffer comes from the pool: the gradients a backward rule returns (Grads).
template <class T>
using Vector = std::vector<T, Allocator<T>>;

// std::make_shared, with the object and its control block in one pooled block.
template <class T, class... A>
std::shared_ptr<T> make_shared(A&&... args) {
    return std::allocate_shared<T>(Allocator<T>(), std::forward<A>(args)...);
}

}  // namespace tg::pool
