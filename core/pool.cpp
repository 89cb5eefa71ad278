#include "core/pool.hpp"

#include "core/prefetch.hpp"

#include <cstdlib>
#include <mutex>
#include <vector>

namespace tg::pool {

namespace {

constexpr std::size_t classes = max_block / alignment;  // 64, 128, ..., 512 bytes
constexpr std::size_t slab_bytes = std::size_t{64} << 10;

struct FreeBlock {
    FreeBlock* next;
};

// Per thread, plain data (no constructor, so no per-access initialisation check): the free list
// of each size class and the rest of the slab being carved.
struct ThreadLists {
    FreeBlock* free[classes];
    char* carve;
    char* carve_end;
};
thread_local ThreadLists lists;

// Every slab, so that they stay reachable (leak checkers) and can be counted.
std::mutex slabs_mutex;
std::vector<void*>& slabs() {
    static std::vector<void*>* all = new std::vector<void*>();  // never destroyed: threads may outlive main
    return *all;
}

void* system_block(std::size_t bytes) {
    const std::size_t rounded = (bytes + alignment - 1) / alignment * alignment;
    void* p = std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded);
    if (!p) {
        throw std::bad_alloc();
    }
    return p;
}

#if defined(TAPEGRAD_NO_POOL)
constexpr bool pooled = false;
#else
constexpr bool pooled = true;
#endif

}  // namespace

void* allocate(std::size_t bytes) {
    if (!pooled || bytes > max_block) {
        return system_block(bytes);
    }
    const std::size_t c = bytes == 0 ? 0 : (bytes - 1) / alignment;
    ThreadLists& l = lists;
    if (FreeBlock* b = l.free[c]) {
        l.free[c] = b->next;
        // The next block of this size is wanted soon (by the next op): ask for it now, so that
        // neither that pop nor the caller's writes into it wait on memory then.
        if (b->next) {
            prefetch(b->next, (c + 1) * alignment);
        }
        return b;
    }
    const std::size_t size = (c + 1) * alignment;
    if (static_cast<std::size_t>(l.carve_end - l.carve) < size) {
        // the rest of the old slab goes to the smallest class's list, in 64-byte blocks
        while (l.carve && static_cast<std::size_t>(l.carve_end - l.carve) >= alignment) {
            auto* b = reinterpret_cast<FreeBlock*>(l.carve);
            b->next = l.free[0];
            l.free[0] = b;
            l.carve += alignment;
        }
        void* slab = system_block(slab_bytes);
        {
            const std::lock_guard<std::mutex> lock(slabs_mutex);
            slabs().push_back(slab);
        }
        l.carve = static_cast<char*>(slab);
        l.carve_end = l.carve + slab_bytes;
    }
    void* p = l.carve;
    l.carve += size;
    return p;
}

void deallocate(void* p, std::size_t bytes) noexcept {
    if (!p) {
        return;
    }
    if (!pooled || bytes > max_block) {
        std::free(p);
        return;
    }
    const std::size_t c = bytes == 0 ? 0 : (bytes - 1) / alignment;
    auto* b = static_cast<FreeBlock*>(p);
    b->next = lists.free[c];
    lists.free[c] = b;
}

}  // namespace tg::pool
