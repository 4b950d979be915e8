// RingBuffer<T>: single-producer single-consumer, lock-free, bounded (the plan's token ring).
//
//   ut::RingBuffer<Token> ring(1024);
//   producer:  if (!ring.try_push(tok)) { /* full: the reader is behind */ }
//   UI thread: while (auto t = ring.try_pop()) draw(*t);          // never blocks
//   server:    auto t = ring.pop_wait(std::chrono::milliseconds(50));  // blocks without spinning
//   producer:  ring.close();   // readers drain what is left, then pop_wait returns nullopt at once
//
// Contract: exactly one thread pushes and one thread pops at a time (roles may move between threads with
// external synchronisation). try_push/try_pop never block and take no lock. pop_wait blocks on a futex until
// an item arrives, the ring is closed, or the timeout passes. Capacity is rounded up to a power of two.
#pragma once

#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "timeline/detail/futex.h"

namespace ut {

template <class T>
class RingBuffer {
 public:
  explicit RingBuffer(std::size_t capacity)
      : capacity_(std::bit_ceil(capacity < 2 ? std::size_t{2} : capacity)),
        mask_(capacity_ - 1),
        slots_(std::make_unique<std::optional<T>[]>(capacity_)) {}

  std::size_t capacity() const noexcept { return capacity_; }

  bool try_push(T value) {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_cache_ >= capacity_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail - head_cache_ >= capacity_) return false;
    }
    slots_[tail & mask_].emplace(std::move(value));
    tail_.store(tail + 1, std::memory_order_release);
    wake_reader();
    return true;
  }

  std::optional<T> try_pop() {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (head == tail_cache_) return std::nullopt;
    }
    auto& slot = slots_[head & mask_];
    std::optional<T> out(std::move(*slot));
    slot.reset();
    head_.store(head + 1, std::memory_order_release);
    return out;
  }

  // Blocks up to `timeout` for an item. nullopt on timeout, or when closed and drained.
  std::optional<T> pop_wait(std::chrono::nanoseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto v = try_pop()) return v;
      const uint32_t seq = seq_.load(std::memory_order_acquire);
      reader_waiting_.store(true, std::memory_order_seq_cst);
      // Re-check after announcing ourselves: a push between try_pop and here has bumped seq_.
      if (auto v = try_pop()) {
        reader_waiting_.store(false, std::memory_order_relaxed);
        return v;
      }
      if (closed_.load(std::memory_order_acquire)) {
        reader_waiting_.store(false, std::memory_order_relaxed);
        return try_pop();
      }
      const auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::nanoseconds::zero()) {
        reader_waiting_.store(false, std::memory_order_relaxed);
        return std::nullopt;
      }
      detail::futex_wait(seq_, seq, std::chrono::duration_cast<std::chrono::nanoseconds>(left));
      reader_waiting_.store(false, std::memory_order_relaxed);
    }
  }

  // No more pushes will come; wakes a blocked reader.
  void close() noexcept {
    closed_.store(true, std::memory_order_release);
    seq_.fetch_add(1, std::memory_order_seq_cst);
    detail::futex_wake_all(seq_);
  }
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  // Approximate (exact when called by the producer or consumer with the other idle).
  std::size_t size() const noexcept {
    return static_cast<std::size_t>(tail_.load(std::memory_order_acquire) - head_.load(std::memory_order_acquire));
  }
  bool empty() const noexcept { return size() == 0; }

 private:
  void wake_reader() noexcept {
    seq_.fetch_add(1, std::memory_order_seq_cst);
    if (reader_waiting_.load(std::memory_order_seq_cst)) detail::futex_wake_all(seq_);
  }

  const std::size_t capacity_;
  const std::size_t mask_;
  std::unique_ptr<std::optional<T>[]> slots_;
  alignas(64) std::atomic<uint64_t> head_{0};  // next slot to pop (consumer-owned)
  uint64_t tail_cache_ = 0;                    // consumer's copy of tail_
  alignas(64) std::atomic<uint64_t> tail_{0};  // next slot to push (producer-owned)
  uint64_t head_cache_ = 0;                    // producer's copy of head_
  alignas(64) std::atomic<uint32_t> seq_{0};   // bumped on every push/close; the futex word
  std::atomic<bool> reader_waiting_{false};
  std::atomic<bool> closed_{false};
};

}  // namespace ut
