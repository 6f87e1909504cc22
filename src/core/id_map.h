// IdMap: TaskId -> slot index, open addressing with linear probing and
// backward-shift deletion (no tombstones).
//
// Why not std::unordered_map: it costs ~48 bytes per entry (node + bucket +
// malloc header); this costs 12 bytes per bucket at a load factor between
// 0.35 and 0.7, which keeps the in-memory index under the 96 bytes per queued
// task budget (docs/performance.md). Key 0 is reserved as "empty": task ids
// start at 1.
#pragma once

#include <cassert>
#include <cstdint>
#include <optional>
#include <vector>

namespace sluice::core {

class IdMap {
 public:
  IdMap() { Rehash(16); }

  std::optional<uint32_t> Find(uint64_t key) const {
    size_t i = Home(key);
    while (keys_[i] != 0) {
      if (keys_[i] == key) return vals_[i];
      i = (i + 1) & mask_;
    }
    return std::nullopt;
  }

  // Inserts or overwrites.
  void Put(uint64_t key, uint32_t val) {
    assert(key != 0);
    if ((size_ + 1) * 10 > keys_.size() * 7) Rehash(keys_.size() * 2);
    size_t i = Home(key);
    while (keys_[i] != 0) {
      if (keys_[i] == key) {
        vals_[i] = val;
        return;
      }
      i = (i + 1) & mask_;
    }
    keys_[i] = key;
    vals_[i] = val;
    ++size_;
  }

  bool Erase(uint64_t key) {
    size_t i = Home(key);
    while (keys_[i] != key) {
      if (keys_[i] == 0) return false;
      i = (i + 1) & mask_;
    }
    // Backward shift: move later entries of the probe run into the hole.
    size_t hole = i;
    size_t j = i;
    for (;;) {
      j = (j + 1) & mask_;
      if (keys_[j] == 0) break;
      size_t home = Home(keys_[j]);
      // Entry j may move into the hole if its home is not in (hole, j].
      bool movable = (hole <= j) ? (home <= hole || home > j) : (home <= hole && home > j);
      if (movable) {
        keys_[hole] = keys_[j];
        vals_[hole] = vals_[j];
        hole = j;
      }
    }
    keys_[hole] = 0;
    --size_;
    return true;
  }

  size_t size() const { return size_; }
  size_t MemoryBytes() const { return keys_.capacity() * 8 + vals_.capacity() * 4; }

 private:
  size_t Home(uint64_t key) const {
    // Fibonacci hashing spreads sequential ids.
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_) & mask_;
  }
  void Rehash(size_t buckets) {
    std::vector<uint64_t> old_keys = std::move(keys_);
    std::vector<uint32_t> old_vals = std::move(vals_);
    keys_.assign(buckets, 0);
    vals_.assign(buckets, 0);
    mask_ = buckets - 1;
    int bits = 0;
    while ((size_t{1} << bits) < buckets) ++bits;
    shift_ = 64 - bits;
    size_ = 0;
    for (size_t i = 0; i < old_keys.size(); ++i) {
      if (old_keys[i] != 0) Put(old_keys[i], old_vals[i]);
    }
  }

  std::vector<uint64_t> keys_;
  std::vector<uint32_t> vals_;
  size_t mask_ = 0;
  int shift_ = 60;
  size_t size_ = 0;
};

}  // namespace sluice::core
