#include "backends/cpu/queue.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "timeline/clock.h"
#include "timeline/device.h"
#include "timeline/error.h"
#include "timeline/validator.h"

namespace ut::cpu {

using namespace ut::detail;

CpuQueue::CpuQueue(Device& device, QueueDesc desc) : Queue(device, std::move(desc)) {
  worker_ = std::thread([this] { run(); });
}

CpuQueue::~CpuQueue() {
  wait_idle();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void CpuQueue::submit(std::shared_ptr<CommandBufferState> cb) {
  {
    std::lock_guard lock(mutex_);
    pending_.push_back(std::move(cb));
  }
  cv_.notify_one();
}

void CpuQueue::run() {
  // Thread name shows in debuggers and perf; 15 chars max.
  pthread_setname_np(pthread_self(), ("ut:" + label()).substr(0, 15).c_str());
  const auto tid = static_cast<id_t>(syscall(SYS_gettid));
  if (priority() == QueuePriority::low) setpriority(PRIO_PROCESS, tid, 5);
  if (priority() == QueuePriority::high) setpriority(PRIO_PROCESS, tid, -5);  // fails quietly without privilege
  // A render queue runs the frame tick: short host tasks that must start on time even when every core is busy
  // (measured: ~3% late ticks on a saturated 16-core host at nice -5). With the privilege, a real-time slot.
  if (kind() == QueueKind::render && priority() == QueuePriority::high) {
    sched_param sp{};
    sp.sched_priority = 1;
    (void)pthread_setschedparam(pthread_self(), SCHED_RR, &sp);
  }
  for (;;) {
    std::shared_ptr<CommandBufferState> cb;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;
      cb = std::move(pending_.front());
      pending_.pop_front();
    }
    execute(*cb);
  }
}

void CpuQueue::execute(CommandBufferState& cb) {
  cb.mark_started();
  Validator* validator = device().validator();
  std::exception_ptr failure;
  for (std::size_t i = 0; i < cb.commands.size(); ++i) {
    const Command& cmd = cb.commands[i];
    if (failure) {
      // After a failure only signals run, carrying the error, so that dependants fail instead of hanging.
      if (auto* s = std::get_if<SignalCmd>(&cmd)) {
        const uint64_t t = now_ns();
        s->event->signal_failed(s->value, failure);
        cb.record_signal(*s, t);
      }
      continue;
    }
    try {
      run_command(cb, i);
    } catch (...) {
      failure = command_failure(cb, cmd, std::current_exception());
    }
    if (validator) validator->on_progress(cb, i);
  }
  cb.finish(failure);
}

void CpuQueue::run_command(CommandBufferState& cb, std::size_t index) {
  const Command& cmd = cb.commands[index];
  if (auto* t = std::get_if<HostTaskCmd>(&cmd)) {
    t->fn();
  } else if (auto* d = std::get_if<DispatchCmd>(&cmd)) {
    const KernelFn* fn = kernels().find(d->kernel, "cpu");
    if (fn == nullptr) throw UsageError("kernel '" + d->kernel + "' has no CPU implementation");
    for (auto& b : d->args.buffers) (void)b.contents();  // throws a clear error for memory the CPU cannot address
    DispatchContext ctx;
    ctx.args = &d->args;
    ctx.grid = d->grid;
    ctx.begin = 0;
    ctx.end = d->grid.count();
    ctx.native_queue = nullptr;
    ctx.host = true;
    (*fn)(ctx);
  } else if (auto* c = std::get_if<CopyCmd>(&cmd)) {
    std::memmove(static_cast<std::byte*>(c->dst.contents()) + c->dst_offset,
                 static_cast<const std::byte*>(c->src.contents()) + c->src_offset, c->bytes);
  } else if (auto* s = std::get_if<SignalCmd>(&cmd)) {
    const uint64_t issued = now_ns();
    s->event->signal(s->value);
    cb.record_signal(*s, issued);
  } else if (auto* w = std::get_if<WaitCmd>(&cmd)) {
    wait_command(cb, index, *w);
  }
}

void CpuQueue::wait_command(CommandBufferState& cb, std::size_t index, const WaitCmd& w) {
  SharedEvent& e = *w.event;
  Validator* validator = device().validator();
  if (e.signaled_value() < w.value) {
    if (validator == nullptr) {
      e.wait(w.value);  // rethrows an upstream failure
      return;
    }
    for (;;) {
      bool cycle = false;
      const std::string problem = validator->check_blocked(cb, index, &cycle);
      if (cycle) {
        validator->report(problem);
        throw ValidationError(problem);
      }
      const auto deadline = problem.empty() ? std::chrono::steady_clock::time_point::max()
                                            : std::chrono::steady_clock::now() + validator->grace();
      if (e.wait_until(w.value, deadline, nullptr)) break;
      // Grace ran out: if still nobody will signal it, the wait can never be satisfied.
      const std::string again = validator->check_blocked(cb, index, &cycle);
      if (!again.empty() && e.signaled_value() < w.value) {
        const std::string msg =
            again + "; gave up after " + std::to_string(validator->grace().count()) + " ms (validation mode)";
        validator->report(msg);
        throw ValidationError(msg);
      }
    }
    validator->on_unblocked(cb);
  }
  if (auto err = e.error_at(w.value)) {
    try {
      std::rethrow_exception(err);
    } catch (const std::exception& ex) {
      throw CommandError(std::string("upstream failure: ") + ex.what());
    }
  }
}

}  // namespace ut::cpu
