#include "timeline/heap.h"

#include <bit>
#include <string>

#include "timeline/error.h"

namespace ut {

const char* to_string(StorageMode m) noexcept { return m == StorageMode::shared ? "shared" : "device"; }

struct Buffer::Allocation {
  std::shared_ptr<Heap> heap;
  std::size_t offset = 0;
  std::size_t bytes = 0;
  std::string label;
  ~Allocation() { heap->release(offset, bytes); }
};

std::size_t Buffer::size() const noexcept { return alloc_ ? alloc_->bytes : 0; }
std::size_t Buffer::offset() const noexcept { return alloc_ ? alloc_->offset : 0; }
StorageMode Buffer::mode() const noexcept { return alloc_ ? alloc_->heap->mode() : StorageMode::shared; }

const std::string& Buffer::label() const noexcept {
  static const std::string empty;
  return alloc_ ? alloc_->label : empty;
}

Heap& Buffer::heap() const {
  if (!alloc_) throw UsageError("[Buffer::heap] empty buffer");
  return *alloc_->heap;
}

void* Buffer::contents() const {
  if (!alloc_) throw UsageError("[Buffer::contents] empty buffer");
  void* base = alloc_->heap->memory().host;
  if (base == nullptr) {
    throw UsageError("[Buffer::contents] buffer '" + alloc_->label + "' in heap '" + alloc_->heap->label() +
                     "' has device storage the host cannot address; copy it to a shared buffer first");
  }
  return static_cast<std::byte*>(base) + alloc_->offset;
}

uint64_t Buffer::device_address() const {
  if (!alloc_) throw UsageError("[Buffer::device_address] empty buffer");
  return alloc_->heap->memory().device_address + alloc_->offset;
}

Heap::Heap(HeapMemory memory, StorageMode mode, std::string label)
    : memory_(std::move(memory)), mode_(mode), label_(std::move(label)) {
  if (memory_.size == 0) throw UsageError("[Heap::Heap] heap '" + label_ + "' has size 0");
  free_.emplace(0, memory_.size);
}

Heap::~Heap() = default;

Buffer Heap::allocate(std::size_t bytes, std::size_t alignment, std::string label) {
  if (bytes == 0) throw UsageError("[Heap::allocate] '" + label_ + "': size must be > 0");
  if (alignment == 0 || !std::has_single_bit(alignment)) {
    throw UsageError("[Heap::allocate] '" + label_ + "': alignment " + std::to_string(alignment) +
                     " is not a power of two");
  }
  std::unique_lock lock(mutex_);
  // First fit: placement order follows addresses, which keeps long-lived allocations packed at the front.
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    const std::size_t start = it->first, len = it->second;
    // Align the address queues use, not just the offset: heaps need not start on a large boundary.
    const uint64_t base = memory_.device_address;
    const std::size_t aligned =
        static_cast<std::size_t>(((base + start + alignment - 1) & ~static_cast<uint64_t>(alignment - 1)) - base);
    if (aligned < start || aligned - start > len || len - (aligned - start) < bytes) continue;
    return take(lock, it, aligned, bytes, std::move(label));
  }
  std::size_t largest = 0;
  for (auto& [off, len] : free_) largest = std::max(largest, len);
  throw OutOfMemoryError("[Heap::allocate] heap '" + label_ + "' cannot place " + std::to_string(bytes) +
                         " bytes (alignment " + std::to_string(alignment) + "): " + std::to_string(used_) + " of " +
                         std::to_string(memory_.size) + " bytes used, largest free block " +
                         std::to_string(largest) + " bytes");
}

Buffer Heap::allocate_at(std::size_t offset, std::size_t bytes, std::string label) {
  if (bytes == 0) throw UsageError("[Heap::allocate_at] '" + label_ + "': size must be > 0");
  std::unique_lock lock(mutex_);
  // The free block that holds [offset, offset + bytes), if any: the last block starting at or before offset.
  auto it = free_.upper_bound(offset);
  if (it != free_.begin()) --it;
  if (it == free_.end() || it->first > offset || offset - it->first > it->second ||
      it->second - (offset - it->first) < bytes) {
    throw UsageError("[Heap::allocate_at] heap '" + label_ + "': bytes [" + std::to_string(offset) + ", " +
                     std::to_string(offset + bytes) + ") are not free (" + std::to_string(memory_.size) +
                     " bytes, " + std::to_string(used_) + " used)");
  }
  return take(lock, it, offset, bytes, std::move(label));
}

Buffer Heap::take(std::unique_lock<std::mutex>& lock, std::map<std::size_t, std::size_t>::iterator block,
                  std::size_t offset, std::size_t bytes, std::string label) {
  const std::size_t start = block->first, end = block->first + block->second;
  free_.erase(block);
  if (offset > start) free_.emplace(start, offset - start);
  if (offset + bytes < end) free_.emplace(offset + bytes, end - (offset + bytes));
  used_ += bytes;
  ++allocations_;
  lock.unlock();
  auto a = std::make_shared<Buffer::Allocation>();
  a->heap = shared_from_this();
  a->offset = offset;
  a->bytes = bytes;
  a->label = std::move(label);
  return Buffer(std::move(a));
}

void Heap::release(std::size_t offset, std::size_t bytes) noexcept {
  std::lock_guard lock(mutex_);
  auto [it, inserted] = free_.emplace(offset, bytes);
  (void)inserted;
  // Coalesce with the following and preceding free blocks.
  auto next = std::next(it);
  if (next != free_.end() && it->first + it->second == next->first) {
    it->second += next->second;
    free_.erase(next);
  }
  if (it != free_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second == it->first) {
      prev->second += it->second;
      free_.erase(it);
    }
  }
  used_ -= bytes;
  --allocations_;
}

std::size_t Heap::used() const {
  std::lock_guard lock(mutex_);
  return used_;
}

HeapStats Heap::stats() const {
  std::lock_guard lock(mutex_);
  HeapStats s;
  s.size = memory_.size;
  s.used = used_;
  s.allocations = allocations_;
  s.free_blocks = free_.size();
  for (auto& [off, len] : free_) {
    s.free += len;
    s.largest_free_block = std::max(s.largest_free_block, len);
  }
  s.fragmentation = s.free == 0 ? 0.0 : 1.0 - static_cast<double>(s.largest_free_block) / static_cast<double>(s.free);
  return s;
}

}  // namespace ut
