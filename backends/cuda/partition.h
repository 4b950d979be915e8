// Internal to the CUDA backend: the SM partition of a device (DeviceDesc::reserve_sms) built from green contexts.
//
//   SmPartitions p(device_index, 8);                 // throws BackendError with the reason when unavailable
//   CUstream s = p.make_stream(SmPartition::reserved, priority);   // a queue's stream on the reserved SMs
//   p.bind_current_thread(SmPartition::work);         // later runtime streams/launches of this thread: work SMs
//
// Why green contexts: stream priorities only choose which block runs next, so a latency-critical kernel still
// waits for the SMs that long ML blocks hold (~1 ms on an H200); a green context owns a set of SMs outright.
// A green context may be current to one thread at a time (CUDA's rule), so every bound thread gets a green
// context of its own, made from the same SM resource. Memory is the primary context's: allocations made anywhere
// in the process are usable in every partition.
#pragma once

#include <cuda.h>

#include <mutex>
#include <string>
#include <vector>

#include "timeline/queue.h"

namespace ut::cuda::detail {

class SmPartitions {
 public:
  SmPartitions(int device_index, unsigned reserve_sms);
  ~SmPartitions();
  SmPartitions(const SmPartitions&) = delete;
  SmPartitions& operator=(const SmPartitions&) = delete;

  unsigned reserved_sms() const noexcept { return reserved_sms_; }
  unsigned work_sms() const noexcept { return work_sms_; }
  // A non-blocking stream in partition p (reserved or work) with the given CUDA priority.
  CUstream make_stream(SmPartition p, int priority);
  // Makes a green context of partition p current on the calling thread (one per thread, kept until the
  // partitions are destroyed).
  void bind_current_thread(SmPartition p);

 private:
  CUgreenCtx shared_context(SmPartition p) const;

  int device_;
  unsigned reserved_sms_ = 0, work_sms_ = 0;
  CUdevResourceDesc reserved_desc_{}, work_desc_{};
  CUgreenCtx reserved_ = nullptr, work_ = nullptr;  // the queues' streams live in these
  std::mutex mutex_;
  std::vector<CUgreenCtx> thread_contexts_;
};

}  // namespace ut::cuda::detail
