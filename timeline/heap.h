// Heap and Buffer: placement sub-allocation from one block of memory (Metal's MTLHeap / MTLBuffer).
//
//   auto heap = device->make_heap({.size = 64 << 20, .mode = ut::StorageMode::shared, .label = "B_embed"});
//   ut::Buffer b = heap->allocate(4096, /*alignment=*/256);
//   std::span<float> v = b.span<float>();      // shared storage: the CPU writes, a kernel reads, no copy
//   heap->stats().fragmentation;                // 0 = one free block, -> 1 = scattered free space
//   // b's range returns to the heap when the last copy of b is dropped.
//
// Contract
// - shared storage: host-visible (contents() works); on CUDA it is pinned, mapped host memory (zero-copy).
// - device storage (Metal's "private"): only queues touch it; contents() throws UsageError where the host
//   cannot address it (on the CPU backend it is ordinary memory and contents() works).
// - allocate() throws OutOfMemoryError naming the heap, the request and the largest free block when it
//   cannot place the request. Thread-safe. A Buffer keeps its heap alive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>

namespace ut {

enum class StorageMode { shared, device };
const char* to_string(StorageMode m) noexcept;

struct HeapDesc {
  std::size_t size = 0;
  StorageMode mode = StorageMode::shared;
  std::string label;
};

struct HeapStats {
  std::size_t size = 0;
  std::size_t used = 0;
  std::size_t free = 0;
  std::size_t largest_free_block = 0;
  std::size_t free_blocks = 0;
  std::size_t allocations = 0;
  double fragmentation = 0.0;  // 1 - largest_free_block / free (0 when free is one block or empty)
};

// Memory a backend hands to a heap.
struct HeapMemory {
  void* host = nullptr;          // host address of byte 0, or nullptr if the host cannot address it
  uint64_t device_address = 0;   // address queues use (== host for the CPU backend)
  std::size_t size = 0;
  std::shared_ptr<void> owner;   // frees the block
};

class Heap;

class Buffer {
 public:
  Buffer() = default;
  explicit operator bool() const noexcept { return alloc_ != nullptr; }

  std::size_t size() const noexcept;
  std::size_t offset() const noexcept;  // within the heap
  StorageMode mode() const noexcept;
  const std::string& label() const noexcept;
  Heap& heap() const;

  // Host pointer to byte 0; throws UsageError for storage the host cannot address.
  void* contents() const;
  // Address a queue uses for byte 0 (a CUDA device pointer, or the host pointer on the CPU backend).
  uint64_t device_address() const;

  template <class T>
  std::span<T> span() const {
    return {static_cast<T*>(contents()), size() / sizeof(T)};
  }

 private:
  friend class Heap;
  struct Allocation;
  explicit Buffer(std::shared_ptr<Allocation> a) : alloc_(std::move(a)) {}
  std::shared_ptr<Allocation> alloc_;
};

class Heap : public std::enable_shared_from_this<Heap> {
 public:
  Heap(HeapMemory memory, StorageMode mode, std::string label);
  ~Heap();
  Heap(const Heap&) = delete;
  Heap& operator=(const Heap&) = delete;

  // Places `bytes` at an offset that is a multiple of `alignment` (a power of two).
  Buffer allocate(std::size_t bytes, std::size_t alignment = 256, std::string label = {});
  // Places `bytes` at exactly `offset` (UsageError if any of them is taken): for heaps that alias another API's
  // memory, where a buffer must be the same bytes as the owner's buffer at that offset.
  Buffer allocate_at(std::size_t offset, std::size_t bytes, std::string label = {});

  std::size_t size() const noexcept { return memory_.size; }
  std::size_t used() const;
  HeapStats stats() const;
  StorageMode mode() const noexcept { return mode_; }
  const std::string& label() const noexcept { return label_; }
  const HeapMemory& memory() const noexcept { return memory_; }

 private:
  friend struct Buffer::Allocation;
  void release(std::size_t offset, std::size_t bytes) noexcept;
  // Places [offset, offset + bytes) inside the free block `block` (under `lock`, which it releases).
  Buffer take(std::unique_lock<std::mutex>& lock, std::map<std::size_t, std::size_t>::iterator block,
              std::size_t offset, std::size_t bytes, std::string label);

  HeapMemory memory_;
  StorageMode mode_;
  std::string label_;
  mutable std::mutex mutex_;
  std::map<std::size_t, std::size_t> free_;  // offset -> bytes, coalesced
  std::size_t used_ = 0;
  std::size_t allocations_ = 0;
};

using HeapPtr = std::shared_ptr<Heap>;

}  // namespace ut
