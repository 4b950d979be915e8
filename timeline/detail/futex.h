// Minimal Linux futex wrapper: block on a 32-bit word without spinning.
// Internal; used by RingBuffer's blocking pop.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace ut::detail {

// Blocks while *word == expected, up to timeout (negative: forever). Returns on wake, change, signal or timeout;
// callers re-check their condition.
void futex_wait(std::atomic<uint32_t>& word, uint32_t expected, std::chrono::nanoseconds timeout) noexcept;
void futex_wake_all(std::atomic<uint32_t>& word) noexcept;

}  // namespace ut::detail
