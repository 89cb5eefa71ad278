// SmallVector<T, N>: a vector that holds its first N elements inside itself. A node's inputs,
// their shapes and its saved tensors are one or two for almost every op; kept inline they cost no
// allocation of their own and sit next to the node in memory, which is what a backward pass over
// a graph of tiny tensors waits on (bench/DESIGN.md). Past N elements they move to a std::vector.
#pragma once

#include <array>
#include <cstddef>
#include <stdexcept>
#include <utility>
#include <vector>

namespace tg {

template <class T, std::size_t N>
class SmallVector {
public:
    using value_type = T;
    using iterator = T*;
    using const_iterator = const T*;

    SmallVector() = default;

    std::size_t size() const { return spilled_ ? heap_.size() : size_; }
    bool empty() const { return size() == 0; }
    T* begin() { return spilled_ ? heap_.data() : local_.data(); }
    T* end() { return begin() + size(); }
    const T* begin() const { return spilled_ ? heap_.data() : local_.data(); }
    const T* end() const { return begin() + size(); }
    T& operator[](std::size_t i) { return begin()[i]; }
    const T& operator[](std::size_t i) const { return begin()[i]; }
    const T& at(std::size_t i) const {
        if (i >= size()) {
            throw std::out_of_range("SmallVector::at: index past the end");
        }
        return begin()[i];
    }
    T& back() { return end()[-1]; }

    void reserve(std::size_t n) {
        if (n > N && !spilled_) {
            spill(n);
        }
    }
    void push_back(T value) {
        if (!spilled_ && size_ < N) {
            local_[size_++] = std::move(value);
            return;
        }
        if (!spilled_) {
            spill(size_ + 1);
        }
        heap_.push_back(std::move(value));
    }
    void pop_back() {
        if (spilled_) {
            heap_.pop_back();
        } else {
            local_[--size_] = T();
        }
    }
    // Empties it and gives back any heap storage.
    void clear() {
        for (std::size_t i = 0; i < size_; ++i) {
            local_[i] = T();
        }
        size_ = 0;
        heap_ = {};
        spilled_ = false;
    }

private:
    void spill(std::size_t capacity) {
        heap_.reserve(capacity);
        for (std::size_t i = 0; i < size_; ++i) {
            heap_.push_back(std::move(local_[i]));
            local_[i] = T();
        }
        size_ = 0;
        spilled_ = true;
    }

    std::array<T, N> local_{};
    std::size_t size_ = 0;
    bool spilled_ = false;
    std::vector<T> heap_;
};

}  // namespace tg
