// Completion on Vulkan: one thread per device blocks in vkWaitSemaphores (wait-any) on the oldest unfinished batch
// of every queue plus a private "wake" semaphore, then retires the batches that completed, in each queue's order:
// raises their signals on the events' host words (listeners run here), recycles command buffers, finishes buffers.
// No polling: a queue whose fifo was empty wakes the thread by signalling the wake semaphore from the host.
#include <pthread.h>

#include <cstdio>

#include "backends/vulkan/internal.h"
#include "timeline/error.h"

namespace ut::vulkan::detail {

using ut::detail::SignalCmd;

Completion::Completion(std::shared_ptr<Context> ctx) : ctx_(std::move(ctx)) {
  VkSemaphoreTypeCreateInfo type{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO};
  type.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
  VkSemaphoreCreateInfo ci{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
  ci.pNext = &type;
  UT_VK_CHECK(ctx_->vk.vkCreateSemaphore(ctx_->device, &ci, nullptr, &wake_));
  thread_ = std::thread([this] { run(); });
}

Completion::~Completion() {
  stopping_ = true;
  wake();
  thread_.join();
  ctx_->vk.vkDestroySemaphore(ctx_->device, wake_, nullptr);
}

void Completion::add(const std::shared_ptr<QueueCore>& core) {
  std::lock_guard lock(mutex_);
  cores_.push_back(core);
}

void Completion::remove(const QueueCore* core) {
  std::lock_guard lock(mutex_);
  std::erase_if(cores_, [core](auto& c) { return c.get() == core; });
}

void Completion::wake() {
  {
    std::lock_guard lock(wake_mutex_);
    kicked_ = true;
    if (!ctx_->lost) {
      VkSemaphoreSignalInfo si{VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO};
      si.semaphore = wake_;
      si.value = ++wake_value_;
      if (const VkResult r = ctx_->vk.vkSignalSemaphore(ctx_->device, &si); r != VK_SUCCESS) ctx_->set_lost(r);
    }
  }
  kick_cv_.notify_all();
}

void Completion::run() {
  pthread_setname_np(pthread_self(), "ut:vk-complete");
  const Fns& vk = ctx_->vk;
  std::vector<std::shared_ptr<QueueCore>> cores;
  std::vector<VkSemaphore> sems;
  std::vector<uint64_t> values;
  for (;;) {
    uint64_t seen = 0;
    if (!ctx_->lost && vk.vkGetSemaphoreCounterValue(ctx_->device, wake_, &seen) != VK_SUCCESS) ctx_->set_lost(VK_ERROR_DEVICE_LOST);
    {
      std::lock_guard lock(mutex_);
      cores = cores_;
    }
    if (stopping_) return;
    if (ctx_->lost) {
      // Nothing will complete any more: fail what is queued, then sleep until a queue adds more.
      fail_all("Vulkan device lost: " + ctx_->lost_reason());
      std::unique_lock lock(wake_mutex_);
      kick_cv_.wait(lock, [&] { return kicked_ || stopping_; });
      kicked_ = false;
      continue;
    }
    sems.assign(1, wake_);
    values.assign(1, seen + 1);
    for (auto& c : cores) {
      std::lock_guard lock(c->mutex);
      if (c->fifo.empty()) continue;
      sems.push_back(c->progress);
      values.push_back(c->fifo.front().progress);
    }
    VkSemaphoreWaitInfo wi{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
    wi.flags = VK_SEMAPHORE_WAIT_ANY_BIT;
    wi.semaphoreCount = static_cast<uint32_t>(sems.size());
    wi.pSemaphores = sems.data();
    wi.pValues = values.data();
    const VkResult r = vk.vkWaitSemaphores(ctx_->device, &wi, UINT64_MAX);
    if (r != VK_SUCCESS && r != VK_TIMEOUT) {
      ctx_->set_lost(r);
      continue;
    }
    for (auto& c : cores) drain(*c);
  }
}

void Completion::drain(QueueCore& core) {
  std::lock_guard finishing(core.finish_mutex);
  const uint64_t done = core.completed();
  for (;;) {
    Pending p;
    {
      std::lock_guard lock(core.mutex);
      if (core.fifo.empty() || core.fifo.front().progress > done) return;
      p = std::move(core.fifo.front());
      core.fifo.pop_front();
    }
    retire(core, p);
  }
}

void Completion::fail_all(const std::string& why) {
  std::vector<std::shared_ptr<QueueCore>> cores;
  {
    std::lock_guard lock(mutex_);
    cores = cores_;
  }
  auto err = std::make_exception_ptr(BackendError(why));
  for (auto& c : cores) {
    std::lock_guard finishing(c->finish_mutex);
    for (;;) {
      Pending p;
      {
        std::lock_guard lock(c->mutex);
        if (c->fifo.empty()) break;
        p = std::move(c->fifo.front());
        c->fifo.pop_front();
      }
      // Unknown which GPU work of the batch ran: its signals are raised with the error, its buffer fails.
      for (std::size_t idx : p.publish) {
        const auto& s = std::get<SignalCmd>(p.cb->commands[idx]);
        if (s.event->signaled_value() < s.value) s.event->signal_failed(s.value, err);
        p.cb->record_signal(s);
      }
      p.cmd = VK_NULL_HANDLE;  // never reused: the pool goes with the lost device
      if (p.end) p.cb->finish(p.failure ? p.failure : err);
    }
  }
}

}  // namespace ut::vulkan::detail
