// Internal to the CUDA backend: RAII handles, the pinned slot pool, the completion thread, in-flight records,
// the device and queue classes. See device.h for the execution model.
#pragma once

#include <cuda_runtime_api.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "backends/cuda/check.h"
#include "backends/cuda/device.h"
#include "backends/cuda/partition.h"
#include "timeline/detail/command_buffer_state.h"
#include "timeline/device.h"
#include "timeline/queue.h"

namespace ut::cuda::detail {

using ut::detail::CommandBufferState;

// ---- RAII handles (destructors never throw; errors on teardown are ignored) ---------------------------------
struct StreamDeleter {
  void operator()(cudaStream_t s) const noexcept { (void)cudaStreamDestroy(s); }
};
struct EventDeleter {
  void operator()(cudaEvent_t e) const noexcept { (void)cudaEventDestroy(e); }
};
struct GraphExecDeleter {
  void operator()(cudaGraphExec_t g) const noexcept { (void)cudaGraphExecDestroy(g); }
};
struct GraphDeleter {
  void operator()(cudaGraph_t g) const noexcept { (void)cudaGraphDestroy(g); }
};
using StreamHandle = std::unique_ptr<CUstream_st, StreamDeleter>;
using EventHandle = std::unique_ptr<CUevent_st, EventDeleter>;
using GraphExecHandle = std::unique_ptr<CUgraphExec_st, GraphExecDeleter>;
using GraphHandle = std::unique_ptr<CUgraph_st, GraphDeleter>;

// ---- process-wide context health (device loss and recovery) ------------------------------------------------
// Counts live native allocations per process so that a lost context is reset only when nothing refers to it.
void native_alloc_added() noexcept;
void native_alloc_removed() noexcept;
long native_allocs() noexcept;
void note_device_lost(int index, const std::string& reason);
// Called by make_device: resets a lost context when nothing of it is alive; throws BackendError otherwise.
void recover_if_lost(int index);

// ---- deferred frees --------------------------------------------------------------------------------------------
// cudaFree/cudaFreeHost wait for the whole device. Run them on a thread of their own, so that dropping the last
// Buffer on a queue or completion thread can never block a thread the GPU is waiting for.
class Reaper {
 public:
  explicit Reaper(int device_index);
  ~Reaper();  // runs what is left, then joins
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;
  void post(std::function<void()> fn) noexcept;

 private:
  void run();
  int device_index_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

// ---- pinned, mapped 64-byte slots (event words, status words, shadow words) -------------------------------------
// Slot layout: word 0 = value, word 1 = error word (first failed value, 0 = none). Zeroed on acquire.
class PinnedPool : public std::enable_shared_from_this<PinnedPool> {
 public:
  static constexpr std::size_t kSlotBytes = 64;
  static constexpr std::size_t kChunkBytes = 64 * 1024;
  struct Slot {
    std::shared_ptr<uint64_t> host;  // gives the slot back when the last copy goes
    uint64_t device = 0;             // GPU address of word 0
  };
  explicit PinnedPool(int device_index) : device_index_(device_index) {}
  ~PinnedPool();
  Slot acquire();

 private:
  void release(uint64_t* host, uint64_t device) noexcept;
  int device_index_;
  std::mutex mutex_;
  std::vector<void*> chunks_;
  std::vector<std::pair<uint64_t*, uint64_t>> free_;
};

// ---- completion thread --------------------------------------------------------------------------------------------
// Runs jobs posted by CUDA host callbacks (which must not call CUDA) in FIFO order on a normal thread, plus timed
// jobs (validation grace). While `watching` is set it also calls `tick` every kWatchdog: the check for asynchronous
// GPU faults, which stop the stream before its completion callback could run. It never polls event values.
class Worker {
 public:
  static constexpr std::chrono::milliseconds kWatchdog{20};
  Worker(int device_index, std::function<void()> tick);
  ~Worker();
  // Runs what was posted, then joins; later posts are dropped (the device is going away).
  void stop() noexcept;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  void post(std::function<void()> job) noexcept;
  void post_at(std::chrono::steady_clock::time_point when, std::function<void()> job) noexcept;
  void set_watching(bool on) noexcept;
  bool on_worker_thread() const noexcept { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  void run();
  int device_index_;
  std::function<void()> tick_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> timed_;
  bool watching_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

class CudaQueue;
class CudaDevice;

// ---- one committed command buffer on its way through a stream ----------------------------------------------------
struct Inflight;
struct HostCall {
  Inflight* rec = nullptr;
  std::size_t index = 0;  // command index (or commands.size() for start/end callbacks)
};
struct WaitInfo {
  bool on_gpu = false;       // the stream waits for it (value was not reached at encode time)
  const uint64_t* error_word = nullptr;  // host address of the word whose non-zero value <= `value` means failure
  uint64_t value = 0;
  uint64_t error_device = 0;  // GPU address of the same error word
};

// Encoding progress of a buffer; encoding may stop at a wait and resume later (see CudaQueue::encode_wait).
struct EncodeState {
  bool fallible_before = false;  // a host task or GPU-side wait precedes: later signals must be checked
  std::vector<std::size_t> gpu_waits;  // waits encoded on the GPU whose error word a checked signal reads
  std::size_t segment = 0;       // graph mode: next graph segment of this buffer
};

struct Inflight {
  std::shared_ptr<CommandBufferState> cb;
  EncodeState enc;                  // submit mutex of the queue
  bool started = false;             // the start callback is enqueued (submit mutex)
  std::size_t parked_at = SIZE_MAX; // index of the wait the buffer is parked at (submit mutex)
  CudaQueue* queue = nullptr;
  uint64_t seq = 0;  // device-wide submission order
  // Sized at submit, written while encoding (before the GPU can reach the command), read by callbacks and the worker.
  std::vector<WaitInfo> waits;  // indexed by command
  std::vector<HostCall> calls;  // stable user data for host callbacks, indexed by command (+ start, end)
  std::atomic<std::size_t> encoded{0};  // commands [0, encoded) went to the stream
  std::vector<std::string> kernels;
  std::vector<std::shared_ptr<void>> keep;  // memory the GPU touches that must outlive the buffer
  PinnedPool::Slot status;                  // word 0 != 0 once a host task failed (read by checked signals)

  // First failure by command index; set at encode, by host-task callbacks, validation timers or the worker.
  // kWholeBuffer: the buffer failed as a whole (device lost, a callback could not be enqueued): it is unknown
  // which GPU writes happened, so every signal whose value is not reached is raised with the error.
  static constexpr std::size_t kNone = SIZE_MAX, kWholeBuffer = SIZE_MAX - 1;
  std::mutex fail_mutex;
  std::size_t fail_index = kNone;
  std::exception_ptr failure;
  // in_stream: the failure happened while the stream ran (a host task threw), so later checked signals, already
  // on the GPU, must skip their writes: sets the status word. Encode-time failures stop encoding instead.
  void fail_at(std::size_t index, std::exception_ptr error, bool in_stream = false);
  // Checks waits before `index` for upstream errors (records the first); true if a command before `index` failed
  // (or the whole buffer did), i.e. command `index` must be skipped.
  bool failed_before(std::size_t index);

  // Host callbacks hold this while touching cb; the worker sets `zombie` under it when the device is lost.
  std::mutex host_mutex;
  bool zombie = false;
};

// ---- device ------------------------------------------------------------------------------------------------------
class CudaDevice final : public Device {
 public:
  CudaDevice(const DeviceDesc& desc, const Options& options);
  ~CudaDevice() override;

  const DeviceCaps& caps() const override { return caps_; }
  DeviceCaps refresh_caps() override;
  DeviceUtilization utilization() const override;
  bool bind_current_thread(SmPartition p) override;
  QueuePtr make_queue(QueueDesc desc) override;
  EventPtr make_event(std::string label, uint64_t initial_value) override;
  HeapPtr make_heap(HeapDesc desc) override;

  int index() const noexcept { return index_; }
  bool memops() const noexcept { return memops_; }
  PinnedPool& pool() { return *pool_; }
  Worker& worker() { return *worker_; }
  // Encodes what the completion worker must not: resumed (parked) buffers, validation give-ups and event listeners.
  // Why a second thread: an encode can block in the driver (a full launch queue, or every launch under
  // CUDA_LAUNCH_BLOCKING=1 waiting on the stream wait it just encoded), and the failure that would release that
  // wait is published by the completion worker; on one thread the two deadlock.
  Worker& encoder() { return *encoder_; }
  // Makes this device current on the calling thread unless it already is (so a thread bound to a partition's
  // green context keeps it).
  void make_current() const;
  // The SM partition (DeviceDesc::reserve_sms), or null when none is active.
  SmPartitions* partitions() noexcept { return partitions_.get(); }

  // In-flight bookkeeping (any thread).
  void track(const std::shared_ptr<Inflight>& rec);
  // From the completion callback (via the worker): resolve status and finish.
  void complete(Inflight* rec);
  // Fails a record that never reached the stream (posted to the worker to keep handler threads uniform).
  void complete_later(const std::shared_ptr<Inflight>& rec);
  // A sticky error was seen: fail everything in flight, refuse new work.
  void lose(cudaError_t error);
  bool lost() const noexcept { return lost_.load(std::memory_order_acquire); }

  // Producers on the GPU: the highest value a queue of this device has encoded as a GPU signal, per event.
  bool signal_encoded(const SharedEvent& e, uint64_t value);
  void note_signal_encoded(const SharedEvent& e, uint64_t value);
  // Calls resume() once a signal of `value` or more is encoded for e (at once if it already is).
  void park_until_encoded(const SharedEvent& e, uint64_t value, std::function<void()> resume);
  std::string lost_reason() const;

  // Events of other backends whose semaphore this device imported (import_timeline): keyed by the event's storage
  // owner, dropped (cudaDestroyExternalSemaphore) once that owner is gone.
  struct ExternalSemaphore {
    std::weak_ptr<void> owner;
    cudaExternalSemaphore_t handle = nullptr;
    ExternalTimeline hooks;
  };
  std::shared_ptr<const ExternalSemaphore> external_timeline(const SharedEvent& e);
  void add_external_timeline(const SharedEvent& e, std::shared_ptr<ExternalSemaphore> s);
  bool has_external_timeline(const SharedEvent& e);
  void drop_external_timelines(bool all);

 private:
  void watchdog_tick();
  cudaError_t sticky_error() noexcept;
  void lost_failure(Inflight& rec, std::size_t* index, std::exception_ptr* failure);
  void finalize(Inflight& rec, std::size_t fail_index, std::exception_ptr failure);
 public:
  // Keeps a record whose host callbacks may still fire (device lost, enqueue failure) for the process's life,
  // marked so that those callbacks do nothing, and drops what it owns.
  static void bury(const std::shared_ptr<Inflight>& rec);

  int index_;
  bool memops_ = false;
  DeviceCaps caps_;
  std::shared_ptr<PinnedPool> pool_;
  std::shared_ptr<Reaper> reaper_;
  // Where the worker looks for a sticky error (they are the context's, so any stream reports them): a stream of its
  // own that nothing is captured on, since querying a queue's stream while its encoder captures a CUDA graph there
  // invalidates the capture (the own decoder's first capture failed so on an H100). An event is recorded on it
  // before each query: a query of an empty stream reported no error after a deliberate fault (the fault tests
  // hung on an H100 at 5368d84), a record is work the driver refuses in a poisoned context.
  StreamHandle probe_;
  EventHandle probe_event_;
  std::unique_ptr<Worker> worker_;
  std::unique_ptr<Worker> encoder_;
  std::unique_ptr<SmPartitions> partitions_;

  mutable std::mutex inflight_mutex_;
  std::unordered_map<Inflight*, std::shared_ptr<Inflight>> inflight_;
  uint64_t next_seq_ = 0;
  std::atomic<bool> lost_{false};
  std::mutex encoded_mutex_;
  std::unordered_map<uint64_t, uint64_t> encoded_;  // event id -> highest encoded GPU signal
  std::unordered_map<uint64_t, std::vector<std::pair<uint64_t, std::function<void()>>>> parked_;
  std::string lost_reason_;  // under inflight_mutex_
  std::mutex external_mutex_;
  std::unordered_map<const void*, std::shared_ptr<ExternalSemaphore>> external_;
};

// Throw UsageError naming `fn` for objects of other backends.
CudaDevice& as_cuda(const Device& d, const char* fn);
class CudaQueue;
CudaQueue& as_cuda(const Queue& q, const char* fn);

// ---- queue -------------------------------------------------------------------------------------------------------
class CudaQueue final : public Queue {
 public:
  CudaQueue(CudaDevice& device, QueueDesc desc, int native_priority);
  ~CudaQueue() override;  // drains committed work, then destroys the streams

  void submit(std::shared_ptr<CommandBufferState> cb) override;
  // Encodes pending buffers as far as their waits allow (any thread but CUDA's callback thread).
  void pump();
  int native_priority() const noexcept override { return priority_; }
  cudaStream_t stream() const noexcept { return stream_.get(); }
  CudaDevice& cuda_device() const noexcept { return cdev_; }
  std::mutex& submit_mutex() noexcept { return submit_mutex_; }

  void enable_graph(const std::string& label);
  GraphStats graph_stats() const;

 private:
  void pump_locked();
  bool advance(const std::shared_ptr<Inflight>& rec);  // false: parked at a wait
  bool encode(const std::shared_ptr<Inflight>& rec);   // false: parked at a wait
  void encode_command(const std::shared_ptr<Inflight>& rec, std::size_t i);
  void encode_signal(Inflight& rec, std::size_t i);
  bool encode_wait(const std::shared_ptr<Inflight>& rec, std::size_t i);  // false: parked
  void park(const std::shared_ptr<Inflight>& rec, std::size_t i);
  void encode_dispatch(Inflight& rec, std::size_t i, bool check_buffers);
  static void check_dispatch_buffers(const ut::detail::DispatchCmd& d);  // GPU-addressable, or UsageError
  void encode_copy(const ut::detail::CopyCmd& c);
  // Graph mode: commands [begin, end) (dispatches and copies) as segment `segment` of the buffer's label.
  void encode_graph_segment(Inflight& rec, std::size_t begin, std::size_t end, std::size_t segment);
  // Enqueues fn(call) on the callback stream after everything enqueued so far on the work stream.
  void enqueue_callback(cudaHostFn_t fn, HostCall* call);

  CudaDevice& cdev_;
  int priority_;
  StreamHandle stream_;  // the work
  StreamHandle side_;    // host callbacks, forked from the work stream with fork_
  EventHandle fork_;
  std::mutex submit_mutex_;  // stream order == commit order
  std::deque<std::shared_ptr<Inflight>> pending_;  // committed, not yet fully encoded (front may be parked)

  struct Segment {
    std::string signature;
    GraphExecHandle exec;
  };
  mutable std::mutex graph_mutex_;
  std::unordered_set<std::string> graph_labels_;
  std::unordered_map<std::string, std::vector<Segment>> graphs_;  // label -> segments in buffer order
  GraphStats graph_stats_;
};

// Kernels of the backend itself (kernels.cu).
struct SignalChecks {
  static constexpr unsigned kMax = 8;
  const unsigned long long* status = nullptr;  // non-zero: the buffer failed
  unsigned n = 0;
  const unsigned long long* error_words[kMax] = {};
  unsigned long long values[kMax] = {};
};
// Writes value to word unless a check fails (then sets *status, if given, and writes nothing).
cudaError_t launch_checked_signal(cudaStream_t s, unsigned long long* word, unsigned long long value,
                                  const SignalChecks& checks);
// Only folds the checks into *status (for signals preceded by more than kMax waits).
cudaError_t launch_fold_checks(cudaStream_t s, unsigned long long* status, const SignalChecks& checks);
// Blocks the stream until *word >= value (fallback for missing 64-bit stream memory ops).
cudaError_t launch_wait_geq(cudaStream_t s, const unsigned long long* word, unsigned long long value);

std::string describe_error(const std::exception_ptr& e);

}  // namespace ut::cuda::detail
