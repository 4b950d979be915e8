#include "workloads/render/frame_loop.h"

#include <chrono>
#include <memory>

#include "timeline/clock.h"
#include "timeline/error.h"
#include "workloads/render/renderer.h"

namespace ut::render {

FrameLoop::FrameLoop(FrameLoopDesc desc) : desc_(std::move(desc)), stats_(desc_.hz) {
  if (!desc_.device) throw UsageError("[FrameLoop::FrameLoop] a device is required");
  if (!(desc_.hz > 0 && desc_.hz <= 1000)) throw UsageError("[FrameLoop::FrameLoop] hz must be in (0, 1000]");
  if (desc_.renderer && desc_.renderer->on_timeline()) {
    // The renderer records into its queue's batches: the frame's command buffer must be of that queue.
    if (desc_.queue && desc_.queue != desc_.renderer->queue())
      throw UsageError("[FrameLoop::FrameLoop] the renderer draws on queue '" + desc_.renderer->queue()->label() +
                       "', not on '" + desc_.queue->label() + "'");
    desc_.queue = desc_.renderer->queue();
  }
  if (!desc_.queue) desc_.queue = desc_.device->make_queue({.kind = QueueKind::render, .label = "Q_render"});
  if (desc_.queue->kind() != QueueKind::render)
    throw UsageError("[FrameLoop::FrameLoop] the queue must be of kind render (got " +
                     std::string(to_string(desc_.queue->kind())) + ")");
  if (!desc_.e_frame) desc_.e_frame = desc_.device->make_event("E_frame");
  frame_base_ = desc_.e_frame->signaled_value();
  if (!desc_.model) {
    desc_.model = &own_model_;
    own_model_.device = desc_.device;
  }
  if (desc_.renderer) {
    desc_.renderer->make_current();
    apply_style();
  }
}

FrameLoop::~FrameLoop() { stop(); }

void FrameLoop::start() {
  if (thread_.joinable()) throw UsageError("[FrameLoop::start] already started");
  stop_ = false;
  thread_ = std::thread([this] {
    try {
      tick_loop(0);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      error_ = std::current_exception();
    }
  });
}

void FrameLoop::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void FrameLoop::run(uint64_t frames) {
  if (thread_.joinable()) throw UsageError("[FrameLoop::run] the loop runs on its own thread (start() was called)");
  stop_ = false;
  tick_loop(frames);
}

void FrameLoop::request_screenshot(std::string path) {
  std::lock_guard<std::mutex> lock(mutex_);
  screenshot_pending_ = std::move(path);
}

std::string FrameLoop::screenshot_written() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return screenshot_written_;
}

FrameStats FrameLoop::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

FrameStatsSummary FrameLoop::summary() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_.summary();
}

void FrameLoop::reset_stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.clear();
  last_start_ns_ = 0;
}

std::exception_ptr FrameLoop::error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_;
}

void FrameLoop::tick_loop(uint64_t max_frames) {
  using clock = std::chrono::steady_clock;
  const auto period = std::chrono::nanoseconds(static_cast<int64_t>(1e9 / desc_.hz));
  running_ = true;
  struct Running {
    std::atomic<bool>& flag;
    ~Running() { flag = false; }
  } running_guard{running_};
  auto next = clock::now();
  for (uint64_t i = 1; !stop_ && (max_frames == 0 || i <= max_frames); ++i) {
    one_frame(frames_.load() + 1);
    if (desc_.renderer && desc_.renderer->window_should_close()) break;
    next += period;
    const auto now = clock::now();
    if (now >= next) {
      // Overran: skip the ticks already missed (they were recorded as a late frame), no catch-up burst.
      const auto behind = (now - next) / period + 1;
      next += behind * period;
    }
    std::this_thread::sleep_until(next);  // a timer, not a poll
  }
}

void FrameLoop::one_frame(uint64_t n) {
  // What the frame's host work reads and writes, shared with its command buffer: a frame that misses its
  // deadline returns while that work may still run.
  struct Frame {
    UiFrameInput in;
    UiFrameInfo info;
    FrameSample sample;
  };
  auto f = std::make_shared<Frame>();
  UiFrameInput& in = f->in;
  std::string shot;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    in.frame = n;
    in.target_hz = desc_.hz;
    in.cpu_ms = stats_.recent(240);
    in.gpu_ms = stats_.recent(240, true);
    in.summary = stats_.summary();
    shot = std::exchange(screenshot_pending_, {});
  }
  if (desc_.renderer) {
    in.device_name = desc_.renderer->device_name();
    desc_.renderer->poll_events();
  }

  UiModel& model = *desc_.model;
  auto cb = desc_.queue->make_command_buffer("frame " + std::to_string(n));
  RenderOptions opt;
  opt.capture = !shot.empty();
  const auto draw = [f, &model, this] { f->info = draw_ui(model, ui_state_, f->in); };
  Renderer* r = desc_.renderer;
  if (r && r->on_timeline()) {
    // The frame on the GPU timeline: ImGui builds on the queue's worker (a host task), the frame's Vulkan commands
    // are recorded into the queue's batch, and the batch signals E_frame (a timeline semaphore) on the GPU.
    cb.host_task([f, r, draw] { f->sample.start_ns = now_ns(); r->build(draw); }, "draw");
    r->encode(cb, opt);
  } else {
    cb.host_task(
        [f, r, draw, opt, &model] {
          FrameSample& sample = f->sample;
          sample.start_ns = now_ns();
          if (r) {
            const FrameTimes t = r->render(draw, opt);
            sample.cpu_ms = t.cpu_ms;
            sample.gpu_ms = t.gpu_ms;
          } else {
            // No UI: still read what the UI would (non-blocking), so the heartbeat's contract is the same.
            while (model.tokens.try_pop()) ++f->info.tokens_drained;
            f->info.e_rag_seen = model.e_rag ? model.e_rag->signaled_value() : 0;
            sample.cpu_ms = static_cast<double>(now_ns() - sample.start_ns) / 1e6;
          }
        },
        "draw");
  }
  cb.signal(desc_.e_frame, frame_base_ + n).commit();
  // Our own frame only; rethrows a failed draw.
  if (!cb.wait_until_completed(desc_.frame_deadline))
    throw BackendError("[FrameLoop] frame " + std::to_string(n) + " did not complete in " +
                       std::to_string(desc_.frame_deadline.count()) + " ms on queue '" + desc_.queue->label() +
                       "': the GPU stopped finishing work (a hung or faulted device: see the kernel log, e.g. an "
                       "NVIDIA Xid); the UI stops, the engine runs on");
  FrameSample& sample = f->sample;
  const UiFrameInfo& info = f->info;
  if (r && r->on_timeline()) {
    const FrameTimes t = r->finish(opt);
    sample.cpu_ms = t.cpu_ms;
    sample.gpu_ms = t.gpu_ms;
  }

  sample.index = n;
  const double period_ms = 1000.0 / desc_.hz;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    sample.interval_ms = last_start_ns_ ? static_cast<double>(sample.start_ns - last_start_ns_) / 1e6 : 0.0;
    // Late: this frame came a tick (or more) after the previous one should have been followed.
    sample.late = sample.interval_ms > 1.5 * period_ms || sample.cpu_ms > period_ms;
    last_start_ns_ = sample.start_ns;
    stats_.add(sample);
  }
  frames_.fetch_add(1);
  if (!shot.empty() && desc_.renderer) {
    desc_.renderer->save_png(shot);
    std::lock_guard<std::mutex> lock(mutex_);
    screenshot_written_ = shot;
  }
  if (desc_.on_frame) desc_.on_frame(n, info, sample);
}

}  // namespace ut::render
