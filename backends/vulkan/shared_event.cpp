// SharedEvent on Vulkan: a timeline VkSemaphore for the GPU side, and the event's 64-bit word on the host, which the
// API reads (signaled_value() stays one atomic load; host waits block on the core's condition variable, listeners
// run on the thread that raised the value).
//
// The semaphore only ever receives values in increasing order: a signal operation is submitted only for a value
// above every value promised to it before (EventRecord::promised), and the host signals it (vkSignalSemaphore) only
// while no GPU signal of it is pending. A queue's signal that cannot go to the semaphore (an equal value another
// queue already promised) is raised on the word when its batch completes. The word is raised by the completion
// thread once a batch that signalled the semaphore completed, so word <= semaphore value only lags, never leads,
// for values that went through the GPU.
#include <unistd.h>

#include <mutex>
#include <unordered_set>

#include "backends/vulkan/internal.h"
#include "timeline/error.h"

namespace ut::vulkan::detail {
namespace {

// Records of live Vulkan events of every device, to tell them from events of other backends (keyed by the
// EventStorage owner, which is the record).
std::mutex g_events_mutex;
std::unordered_set<const void*>& events() {
  static auto* s = new std::unordered_set<const void*>();  // leaked: events may die during static destruction
  return *s;
}

}  // namespace

EventRecord::~EventRecord() {
  {
    std::lock_guard lock(g_events_mutex);
    events().erase(this);
  }
  if (semaphore != VK_NULL_HANDLE) ctx->vk.vkDestroySemaphore(ctx->device, semaphore, nullptr);
}

EventRecord* find_event(const SharedEvent& e) {
  const void* owner = e.storage().owner.get();
  std::lock_guard lock(g_events_mutex);
  return events().count(owner) != 0 ? static_cast<EventRecord*>(const_cast<void*>(owner)) : nullptr;
}

void note_submitted(EventRecord& r, SharedEvent& e, uint64_t value) {
  std::vector<std::function<void()>> due;
  {
    std::lock_guard lock(r.mutex);
    r.submitted = std::max(r.submitted, value);
    auto keep = r.on_submitted.begin();
    for (auto& [v, fn] : r.on_submitted) {
      if (v <= r.submitted) due.push_back(std::move(fn));
      else *keep++ = {v, std::move(fn)};
    }
    r.on_submitted.erase(keep, r.on_submitted.end());
  }
  for (auto& fn : due) fn();
  e.wake_all();  // a worker parked on this value re-checks and waits on the GPU instead
}

bool is_submitted(EventRecord& r, uint64_t value) {
  std::lock_guard lock(r.mutex);
  return r.submitted >= value;
}

EventPtr VulkanDevice::make_event(std::string label, uint64_t initial_value) {
  auto rec = std::make_shared<EventRecord>(ctx_);
  VkSemaphoreTypeCreateInfo type{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO};
  type.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
  type.initialValue = initial_value;
  VkExportSemaphoreCreateInfo exp{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO};
  exp.handleTypes = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT;
  if (ctx_->external_semaphore_fd) type.pNext = &exp;
  VkSemaphoreCreateInfo ci{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
  ci.pNext = &type;
  UT_VK_CHECK(ctx_->vk.vkCreateSemaphore(ctx_->device, &ci, nullptr, &rec->semaphore));
  rec->exportable = ctx_->external_semaphore_fd;
  rec->promised = rec->submitted = initial_value;
  {
    std::lock_guard lock(g_events_mutex);
    events().insert(rec.get());
  }
  EventStorage st;
  st.host_word = &rec->words[0];
  st.error_word = &rec->words[1];
  st.device_address = 0;  // no GPU maps the word: other backends' queues resolve waits on it on the host
  st.owner = rec;
  return std::make_shared<SharedEvent>(std::move(st), std::move(label), initial_value);
}

}  // namespace ut::vulkan::detail

namespace ut::vulkan {

NativeSemaphore native_semaphore(const SharedEvent& event) {
  detail::EventRecord* r = detail::find_event(event);
  if (r == nullptr) throw UsageError("[vulkan::native_semaphore] event '" + event.label() + "' is not a Vulkan event");
  return {r->semaphore, r->exportable};
}

namespace {
detail::EventRecord& record_of(const SharedEvent& event, const char* fn) {
  detail::EventRecord* r = detail::find_event(event);
  if (r == nullptr) throw UsageError(std::string("[vulkan::") + fn + "] event '" + event.label() + "' is not a Vulkan event");
  return *r;
}
}  // namespace

bool reserve_semaphore_signal(const SharedEvent& event, uint64_t value) {
  detail::EventRecord& r = record_of(event, "reserve_semaphore_signal");
  std::lock_guard lock(r.mutex);
  if (value <= r.promised || value <= event.signaled_value()) return false;
  r.promised = value;
  return true;
}

void semaphore_signal_submitted(SharedEvent& event, uint64_t value) {
  detail::note_submitted(record_of(event, "semaphore_signal_submitted"), event, value);
}

bool semaphore_signal_is_submitted(const SharedEvent& event, uint64_t value) {
  return detail::is_submitted(record_of(event, "semaphore_signal_is_submitted"), value);
}

void when_semaphore_signal_submitted(const SharedEvent& event, uint64_t value, std::function<void()> fn) {
  detail::EventRecord& r = record_of(event, "when_semaphore_signal_submitted");
  {
    std::lock_guard lock(r.mutex);
    if (r.submitted < value) {
      r.on_submitted.emplace_back(value, std::move(fn));
      return;
    }
  }
  fn();
}

int export_semaphore_fd(const SharedEvent& event) {
  detail::EventRecord* r = detail::find_event(event);
  if (r == nullptr) throw UsageError("[vulkan::export_semaphore_fd] event '" + event.label() + "' is not a Vulkan event");
  if (!r->exportable || r->ctx->vk.vkGetSemaphoreFdKHR == nullptr) {
    throw UsageError("[vulkan::export_semaphore_fd] event '" + event.label() +
                     "': this device has no exportable timeline semaphores (VK_KHR_external_semaphore_fd)");
  }
  VkSemaphoreGetFdInfoKHR info{VK_STRUCTURE_TYPE_SEMAPHORE_GET_FD_INFO_KHR};
  info.semaphore = r->semaphore;
  info.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT;
  int fd = -1;
  UT_VK_CHECK(r->ctx->vk.vkGetSemaphoreFdKHR(r->ctx->device, &info, &fd));
  return fd;
}

}  // namespace ut::vulkan
