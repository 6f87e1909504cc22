// DrrRingBuffer: a growable FIFO ring buffer for the scheduler's lanes and
// age lists.
//
// Capacity is a power of two and only grows (doubling), so a FIFO that has
// reached its working size never allocates again: steady-state push/pop is
// allocation free. Not thread-safe (the engine's loop thread owns it).
#pragma once

#include <cassert>
#include <cstdint>
#include <memory>

namespace sluice::core {

template <typename T>
class DrrRingBuffer {
 public:
  bool empty() const { return size_ == 0; }
  uint32_t size() const { return size_; }

  // Precondition for front/at/pop_front: !empty() (at: i < size()).
  T& front() {
    assert(size_ > 0);
    return buf_[head_];
  }
  const T& front() const {
    assert(size_ > 0);
    return buf_[head_];
  }
  const T& at(uint32_t i) const {
    assert(i < size_);
    return buf_[(head_ + i) & (cap_ - 1)];
  }

  void push_back(const T& value) {
    if (size_ == cap_) Grow();
    buf_[(head_ + size_) & (cap_ - 1)] = value;
    ++size_;
  }
  void pop_front() {
    assert(size_ > 0);
    head_ = (head_ + 1) & (cap_ - 1);
    --size_;
  }

 private:
  void Grow() {
    const uint32_t new_cap = cap_ == 0 ? 4 : cap_ * 2;
    auto next = std::make_unique<T[]>(new_cap);
    for (uint32_t i = 0; i < size_; ++i) next[i] = buf_[(head_ + i) & (cap_ - 1)];
    buf_ = std::move(next);
    cap_ = new_cap;
    head_ = 0;
  }

  std::unique_ptr<T[]> buf_;
  uint32_t head_ = 0;
  uint32_t size_ = 0;
  uint32_t cap_ = 0;
};

}  // namespace sluice::core
