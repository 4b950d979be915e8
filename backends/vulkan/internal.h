// Internal to the Vulkan backend: the loader and function table, the one checking macro, the Context (instance +
// device, shared by everything a device made), event and heap records, the queue's worker, the completion thread.
// See device.h for the execution model.
#pragma once

#include <vulkan/vulkan_core.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "backends/vulkan/device.h"
#include "timeline/detail/command_buffer_state.h"
#include "timeline/device.h"
#include "timeline/queue.h"

namespace ut::vulkan::detail {

using ut::detail::CommandBufferState;

// ---- function table (everything through vkGet*ProcAddr: nothing links libvulkan) --------------------------------
#define UT_VK_GLOBAL_FNS(X) \
  X(vkCreateInstance) X(vkEnumerateInstanceExtensionProperties) X(vkEnumerateInstanceLayerProperties) \
  X(vkEnumerateInstanceVersion)
#define UT_VK_INSTANCE_FNS(X)                                                                                      \
  X(vkDestroyInstance) X(vkEnumeratePhysicalDevices) X(vkGetPhysicalDeviceProperties)                              \
  X(vkGetPhysicalDeviceProperties2) X(vkGetPhysicalDeviceFeatures2) X(vkGetPhysicalDeviceQueueFamilyProperties)    \
  X(vkGetPhysicalDeviceMemoryProperties) X(vkGetPhysicalDeviceMemoryProperties2)                                   \
  X(vkEnumerateDeviceExtensionProperties) X(vkCreateDevice) X(vkGetDeviceProcAddr)                                 \
  X(vkGetPhysicalDeviceExternalBufferProperties) X(vkGetPhysicalDeviceExternalSemaphoreProperties)                 \
  X(vkCreateDebugUtilsMessengerEXT) X(vkDestroyDebugUtilsMessengerEXT)
#define UT_VK_DEVICE_FNS(X)                                                                                        \
  X(vkDestroyDevice) X(vkGetDeviceQueue) X(vkDeviceWaitIdle) X(vkQueueSubmit) X(vkCreateSemaphore)                 \
  X(vkDestroySemaphore) X(vkGetSemaphoreCounterValue) X(vkWaitSemaphores) X(vkSignalSemaphore)                     \
  X(vkCreateCommandPool) X(vkDestroyCommandPool) X(vkAllocateCommandBuffers) X(vkBeginCommandBuffer)               \
  X(vkEndCommandBuffer) X(vkCmdPipelineBarrier) X(vkCmdCopyBuffer) X(vkCmdBindPipeline) X(vkCmdPushConstants)      \
  X(vkCmdDispatch) X(vkCmdPushDescriptorSetKHR) X(vkCreateBuffer) X(vkDestroyBuffer)                               \
  X(vkGetBufferMemoryRequirements2) X(vkAllocateMemory) X(vkFreeMemory) X(vkBindBufferMemory) X(vkMapMemory)       \
  X(vkUnmapMemory) X(vkGetBufferDeviceAddress) X(vkCreateShaderModule) X(vkDestroyShaderModule)                    \
  X(vkCreateDescriptorSetLayout) X(vkDestroyDescriptorSetLayout) X(vkCreatePipelineLayout)                         \
  X(vkDestroyPipelineLayout) X(vkCreateComputePipelines) X(vkDestroyPipeline) X(vkGetMemoryFdKHR)                  \
  X(vkGetSemaphoreFdKHR)

struct Fns {
#define UT_VK_MEMBER(f) PFN_##f f = nullptr;
  UT_VK_GLOBAL_FNS(UT_VK_MEMBER)
  UT_VK_INSTANCE_FNS(UT_VK_MEMBER)
  UT_VK_DEVICE_FNS(UT_VK_MEMBER)
#undef UT_VK_MEMBER
};

// vkGetInstanceProcAddr of libvulkan.so.1 (dlopen'ed once per process), or nullptr with the reason.
PFN_vkGetInstanceProcAddr loader(std::string* why);
void load_global(Fns& f, PFN_vkGetInstanceProcAddr gipa);
void load_instance(Fns& f, PFN_vkGetInstanceProcAddr gipa, VkInstance instance);
void load_device(Fns& f, VkDevice device);

// ---- errors ------------------------------------------------------------------------------------------------------
const char* result_name(VkResult r) noexcept;  // "VK_ERROR_DEVICE_LOST"
// Throws BackendError("<call> failed: VK_..."); OutOfMemoryError for the out-of-memory results.
[[noreturn]] void throw_vk_error(VkResult r, const char* call);
inline void check_result(VkResult r, const char* call) {
  if (r != VK_SUCCESS) throw_vk_error(r, call);
}
#define UT_VK_CHECK(call) ::ut::vulkan::detail::check_result((call), #call)

// ---- instance, physical device choice ----------------------------------------------------------------------------
struct Instance {
  Fns vk;
  PFN_vkGetInstanceProcAddr gipa = nullptr;
  VkInstance instance = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger = VK_NULL_HANDLE;
  bool validation = false;  // VK_LAYER_KHRONOS_validation is on
};
Instance make_instance(const Options& options, std::string* why);  // instance == VK_NULL_HANDLE: *why says why
void destroy_instance(Instance& in) noexcept;
class Context;
void attach_messenger(Instance& in, Context* ctx);  // validation messages go to ctx from now on
bool has_extension(const Fns& vk, VkPhysicalDevice p, const char* name);
// Physical devices that can run the backend (Vulkan 1.2, timeline semaphores, push descriptors), best first
// (discrete, integrated, virtual, CPU). `why` lists the rejected ones.
std::vector<VkPhysicalDevice> usable_devices(const Instance& in, std::string* why);

// Usage of every heap's VkBuffer.
inline VkBufferUsageFlags heap_usage(bool bda) {
  return VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT |
         (bda ? static_cast<VkBufferUsageFlags>(VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT) : 0u);
}

// ---- queues of the VkDevice ----------------------------------------------------------------------------------------
struct QueueSlot {
  VkQueue queue = VK_NULL_HANDLE;
  uint32_t family = 0, index = 0;
  float priority = 0.5f;
  bool compute = false;  // the family runs dispatches
  std::mutex mutex;      // vkQueueSubmit is externally synchronized; several timeline queues share a VkQueue
};

// ---- compute pipelines (cached per SPIR-V blob, buffer count and push-constant size) ----------------------------
struct Pipeline {
  VkShaderModule module = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  VkPipeline pipeline = VK_NULL_HANDLE;
  uint32_t push_bytes = 0;
};

// What DispatchContext::native_queue points to while a Vulkan queue records a dispatch.
struct Recorder {
  Context* ctx = nullptr;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  const QueueSlot* slot = nullptr;
  const std::string* kernel = nullptr;
};

// ---- the Context: one VkInstance + VkDevice, kept alive by the device and everything it made --------------------
class Context {
 public:
  Context(Instance instance, VkPhysicalDevice physical);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  Fns vk;
  Instance in;
  VkPhysicalDevice phys = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  VkPhysicalDeviceProperties props{};
  VkPhysicalDeviceMemoryProperties memory{};
  std::array<uint8_t, VK_UUID_SIZE> uuid{};
  std::string driver_name, driver_info;
  bool bda = false;                    // bufferDeviceAddress (Buffer::device_address is a GPU address)
  bool external_memory_fd = false;     // heaps are allocated exportable (VK_KHR_external_memory_fd)
  bool external_semaphore_fd = false;  // timeline semaphores are created exportable (VK_KHR_external_semaphore_fd)
  bool external_memory_dedicated = false;  // exportable memory must be a dedicated allocation
  bool memory_budget = false;          // VK_EXT_memory_budget
  uint32_t sm_count = 0;               // VK_NV_shader_sm_builtins, where present
  uint32_t family_render = 0, family_compute = 0, family_transfer = 0;
  std::vector<uint32_t> families;      // distinct families in use (buffers are shared concurrently by them)
  std::vector<std::unique_ptr<QueueSlot>> slots;

  QueueSlot& slot_for(QueueKind kind, QueuePriority priority);
  int priority_levels() const;
  const Pipeline& pipeline(const Spirv& spirv, uint32_t buffers, uint32_t push_bytes);
  std::size_t device_memory_total() const;
  std::size_t device_memory_free() const;  // budget where VK_EXT_memory_budget exists, else the total

  std::atomic<bool> lost{false};
  std::string lost_reason() const;
  void set_lost(VkResult r);

  // A queue's progress semaphore and command pool, destroyed with the device (after vkDeviceWaitIdle): a driver may
  // still drop references to a queue's last batch after signalling it (see QueueCore::lag_cmd).
  void bury(VkSemaphore s, VkCommandPool p);

  // Validation-layer messages (warnings and errors), in order.
  void add_message(std::string m);
  std::vector<std::string> messages() const;

 private:
  void choose_families();
  void create_device();
  void read_properties();
  mutable std::mutex mutex_;  // pipelines, messages, lost reason
  std::map<std::tuple<const void*, std::size_t, uint32_t, uint32_t>, Pipeline> pipelines_;
  std::vector<std::string> messages_;
  std::string lost_reason_;
  std::vector<VkSemaphore> buried_semaphores_;
  std::vector<VkCommandPool> buried_pools_;
};

// ---- events: the SharedEvent's word on the host + a timeline VkSemaphore ----------------------------------------
// The host word is what the API reads (signaled_value() is one load); the semaphore is what GPU batches signal and
// wait on. The completion thread publishes semaphore signals to the word once their batch completed.
struct EventRecord {
  explicit EventRecord(std::shared_ptr<Context> c) : ctx(std::move(c)) {}
  ~EventRecord();
  alignas(64) uint64_t words[2] = {0, 0};  // value, error word (first failed value)
  std::shared_ptr<Context> ctx;
  VkSemaphore semaphore = VK_NULL_HANDLE;
  bool exportable = false;
  std::mutex mutex;
  uint64_t promised = 0;   // highest semaphore value a submitted (or submitting) signal operation will write
  uint64_t submitted = 0;  // highest value whose signal operation is in a queue (a GPU wait for it cannot stall)
  // Importers parked until a signal of a value is submitted (when_semaphore_signal_submitted), under `mutex`.
  std::vector<std::pair<uint64_t, std::function<void()>>> on_submitted;
};
// The record behind an event made by a Vulkan device (any), or nullptr.
EventRecord* find_event(const SharedEvent& e);
// Records a submitted signal of `value` (after vkQueueSubmit returned) and wakes queues parked on the event.
void note_submitted(EventRecord& r, SharedEvent& e, uint64_t value);
bool is_submitted(EventRecord& r, uint64_t value);

// ---- heaps: one VkDeviceMemory with one VkBuffer over all of it --------------------------------------------------
struct HeapRecord {
  ~HeapRecord();
  std::shared_ptr<Context> ctx;
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkDeviceSize size = 0, allocation_size = 0;
  void* mapped = nullptr;
  uint32_t memory_type = 0;
  bool exportable = false, dedicated = false;
};
HeapRecord* find_heap(const Heap& h);

// ---- a queue's GPU state, shared by its worker and the completion thread ----------------------------------------
// A batch is one vkQueueSubmit: it waits for the queue's previous batch (progress semaphore) and GPU-side event
// waits, runs recorded commands, signals event semaphores and the next progress value.
struct Pending {
  uint64_t progress = 0;                    // the queue's progress value the record follows
  // Every semaphore value the batch signals (events, then progress). The batch is complete, and those semaphores
  // may be destroyed, only once all of them are reached: implementations signal them one after another.
  std::vector<VkSemaphore> sems;
  std::vector<uint64_t> values;
  std::vector<std::shared_ptr<void>> keep;  // event records whose semaphores the batch waits on or signals
  VkCommandBuffer cmd = VK_NULL_HANDLE;     // recycled when done
  std::shared_ptr<CommandBufferState> cb;
  std::vector<std::size_t> publish;         // signal commands raised on the host words once done
  bool end = false;                         // the buffer's last record: finish() it
  std::exception_ptr failure;
};

// The queue's GPU state: its progress semaphore, command pool, and the completion thread, which blocks in
// vkWaitSemaphores on the oldest unfinished batch and retires batches in order: raises their signals on the events'
// host words (listeners run there), recycles command buffers, finishes buffers. No polling, no host-signalled
// wake-ups: an empty fifo parks the thread on a condition variable.
struct QueueCore {
  QueueCore(std::shared_ptr<Context> c, QueueSlot& s, const std::string& label);
  ~QueueCore();  // stops the completion thread (every buffer has finished by then)
  std::shared_ptr<Context> ctx;
  QueueSlot& slot;
  VkSemaphore progress = VK_NULL_HANDLE;
  VkCommandPool pool = VK_NULL_HANDLE;  // used by the worker only
  std::atomic<uint64_t> submitted{0};   // last progress value submitted
  std::mutex finish_mutex;              // held while retiring records: buffers finish in commit order
  std::mutex mutex;                     // fifo, free_cmds, stopping
  std::condition_variable cv;
  std::deque<Pending> fifo;
  std::vector<VkCommandBuffer> free_cmds;
  bool stopping = false;
  // The last retired batch's command buffer and semaphores, released when the next batch is retired: a driver may
  // still drop its references to a batch after signalling it (Mesa's queue thread does), but not after it ran the
  // next batch of the same VkQueue. Under finish_mutex.
  VkCommandBuffer lag_cmd = VK_NULL_HANDLE;
  std::vector<std::shared_ptr<void>> lag_keep;
  std::thread thread;

  uint64_t completed() const;  // the progress semaphore's value
  void push(Pending p);        // hands a submitted batch (or a buffer's end) to the completion thread
  void retire(Pending& p);     // publishes signals, finishes the buffer; finish_mutex is held

 private:
  void run();
  void fail_all(const std::string& why);
};

// ---- device --------------------------------------------------------------------------------------------------------
class VulkanDevice final : public Device {
 public:
  VulkanDevice(const DeviceDesc& desc, std::shared_ptr<Context> ctx);
  ~VulkanDevice() override;

  const DeviceCaps& caps() const override { return caps_; }
  DeviceCaps refresh_caps() override;
  QueuePtr make_queue(QueueDesc desc) override;
  EventPtr make_event(std::string label, uint64_t initial_value) override;
  HeapPtr make_heap(HeapDesc desc) override;

  const std::shared_ptr<Context>& context() const noexcept { return ctx_; }

 private:
  std::shared_ptr<Context> ctx_;
  DeviceCaps caps_;
};

// ---- queue -----------------------------------------------------------------------------------------------------------
class VulkanQueue final : public Queue {
 public:
  VulkanQueue(VulkanDevice& device, QueueDesc desc);
  ~VulkanQueue() override;  // drains committed work, then joins the worker

  void submit(std::shared_ptr<CommandBufferState> cb) override;
  int native_priority() const noexcept override { return static_cast<int>(core_->slot.priority * 100.0f + 0.5f); }
  NativeQueueHandles native_handles() const override;
  QueueCore& core() noexcept { return *core_; }

 private:
  // The batch being recorded by the worker.
  struct Batch {
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    struct Wait {
      EventRecord* rec;
      uint64_t value;
      std::shared_ptr<void> owner;  // keeps the semaphore
    };
    std::vector<Wait> waits;  // GPU-side event waits
    std::vector<std::size_t> signals;                       // signal commands of the buffer, in order
    bool empty() const noexcept { return cmd == VK_NULL_HANDLE && waits.empty() && signals.empty(); }
  };
  void run();
  void execute(const std::shared_ptr<CommandBufferState>& cb);
  void run_command(CommandBufferState& cb, std::size_t i, Batch& batch);
  void do_signal(CommandBufferState& cb, std::size_t i, Batch& batch);
  void do_wait(CommandBufferState& cb, std::size_t i, Batch& batch);
  void park(CommandBufferState& cb, std::size_t i, SharedEvent& e, uint64_t value, EventRecord* rec);
  void do_copy(const ut::detail::CopyCmd& c, Batch& batch);
  void do_dispatch(const ut::detail::DispatchCmd& d, Batch& batch);
  VkCommandBuffer recording(Batch& batch);  // begins the batch's command buffer on first use
  void flush(Batch& batch);            // submits the batch (if not empty) for the current buffer
  void wait_progress(uint64_t value);  // blocks until the queue's GPU work up to `value` is done
  bool idle() const;                   // every submitted batch is done
  void end_buffer(const std::shared_ptr<CommandBufferState>& cb, std::exception_ptr failure);

  std::shared_ptr<Context> ctx_;
  std::unique_ptr<QueueCore> core_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<CommandBufferState>> pending_;
  bool stopping_ = false;
  std::shared_ptr<CommandBufferState> current_;  // the buffer the worker executes
  std::thread worker_;
};

// Barrier that orders every command before it against every command after it (memory included), and makes
// device writes visible to the host.
void full_barrier(const Fns& vk, VkCommandBuffer cmd, bool to_host);

}  // namespace ut::vulkan::detail
