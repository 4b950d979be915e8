// Kernels: named compute functions that a command buffer dispatches over a grid of work items.
// Each backend registers its own implementation under the same name.
//
//   struct Saxpy { float a; };
//   ut::kernels().add("saxpy", "cpu", [](const ut::DispatchContext& c) {
//     auto x = c.buffer<float>(0); auto y = c.buffer<float>(1); float a = c.constants<Saxpy>().a;
//     for (uint64_t i = c.begin; i < c.end; ++i) y[i] += a * x[i];
//   });
//   cb.dispatch("saxpy", ut::Grid{n}, ut::DispatchArgs::make({x, y}, Saxpy{2.0f}));
//
// Contract: the CPU backend calls the implementation with [begin, end) covering the grid's linear work-item
// range (possibly split into several calls); a GPU backend calls it once with native_queue set to its stream,
// and the implementation launches its kernel there (it must not synchronize). Registration is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "timeline/heap.h"

namespace ut {

struct Grid {
  uint64_t x = 1, y = 1, z = 1;
  uint64_t count() const noexcept { return x * y * z; }
};

// Buffers and a small block of constants passed to a kernel.
struct DispatchArgs {
  std::vector<Buffer> buffers;
  std::vector<std::byte> constants;

  template <class T>
  static DispatchArgs make(std::vector<Buffer> buffers, const T& consts) {
    static_assert(std::is_trivially_copyable_v<T>, "kernel constants must be trivially copyable");
    DispatchArgs a{std::move(buffers), std::vector<std::byte>(sizeof(T))};
    std::memcpy(a.constants.data(), &consts, sizeof(T));
    return a;
  }
  static DispatchArgs make(std::vector<Buffer> buffers) { return {std::move(buffers), {}}; }
};

struct DispatchContext {
  const DispatchArgs* args = nullptr;
  Grid grid;
  uint64_t begin = 0, end = 0;   // linear work-item range to run (CPU); whole grid for GPU backends
  void* native_queue = nullptr;  // cudaStream_t for CUDA; nullptr on the CPU backend
  void* native_commands = nullptr;  // Vulkan: the VkCommandBuffer being recorded (Queue::native_handles())
  bool host = true;              // buffer<T>() gives host pointers (CPU backend) or device addresses

  // Typed device-address view of buffer i (host pointer on the CPU backend, device pointer on CUDA).
  template <class T>
  T* buffer(std::size_t i) const {
    const Buffer& b = args->buffers.at(i);
    return host ? static_cast<T*>(b.contents()) : reinterpret_cast<T*>(static_cast<uintptr_t>(b.device_address()));
  }
  template <class T>
  const T& constants() const {
    if (args->constants.size() != sizeof(T)) throw_bad_constants(sizeof(T));
    return *reinterpret_cast<const T*>(args->constants.data());
  }

 private:
  [[noreturn]] void throw_bad_constants(std::size_t wanted) const;
};

using KernelFn = std::function<void(const DispatchContext&)>;

class KernelRegistry {
 public:
  // Registers fn; returns false (and keeps the first) if name/backend is already registered, so that code
  // holding a found function never sees it replaced.
  bool add(const std::string& name, const std::string& backend, KernelFn fn);
  // nullptr if `name` has no implementation for `backend`.
  const KernelFn* find(const std::string& name, const std::string& backend) const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, KernelFn> fns_;  // key: backend + '/' + name; nodes are stable
};

// The process's kernel table: code, not device state (like a linker's symbol table).
KernelRegistry& kernels();

}  // namespace ut
