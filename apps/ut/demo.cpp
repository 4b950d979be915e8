// `ut demo`: the unified timeline in miniature. Three queues run at once for N ticks at 60 Hz:
//   render   : every tick signals E_frame (the heartbeat), reads E_rag and the token ring without waiting;
//   ML       : per tick "embed" (a kernel over a shared heap) -> E_embed -> "rag" (exact top-1) -> E_rag;
//   transfer : waits for E_rag, copies the result to a host-visible buffer -> E_blit, pushes a token.
// Writes the trace (Chrome JSON) and prints what happened.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <span>
#include <thread>
#include <vector>

#include "apps/ut/commands.h"
#include "timeline/clock.h"
#include "timeline/device.h"
#include "timeline/ring_buffer.h"

namespace ut::app {
namespace {

struct EmbedArgs {
  uint32_t dim;
  uint32_t tick;
};

void register_demo_kernels() {
  // Deterministic pseudo-embeddings, L2-normalised per row: the shape of the ML lane's work.
  kernels().add("demo.embed", "cpu", [](const DispatchContext& c) {
    float* out = c.buffer<float>(0);
    const auto& a = c.constants<EmbedArgs>();
    for (uint64_t row = c.begin; row < c.end; ++row) {
      float* v = out + row * a.dim;
      double norm = 0;
      for (uint32_t k = 0; k < a.dim; ++k) {
        v[k] = std::sin(static_cast<float>(row * 131 + k * 7 + a.tick));
        norm += static_cast<double>(v[k]) * v[k];
      }
      const float inv = norm > 0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 0.f;
      for (uint32_t k = 0; k < a.dim; ++k) v[k] *= inv;
    }
  });
}

// Exact nearest neighbour of row `query` among the other rows (cosine: rows are unit-norm): the RAG step in
// miniature, on the ML queue after E_embed.
uint32_t exact_top1(std::span<const float> m, uint32_t rows, uint32_t dim, uint32_t query) {
  uint32_t best = 0;
  float best_score = -2.f;
  for (uint32_t r = 0; r < rows; ++r) {
    if (r == query) continue;
    float dot = 0;
    for (uint32_t k = 0; k < dim; ++k) dot += m[query * dim + k] * m[r * dim + k];
    if (dot > best_score) {
      best_score = dot;
      best = r;
    }
  }
  return best;
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int demo(const DemoOptions& o) {
  register_demo_kernels();
  auto dev = Device::create({.backend = o.backend});
  std::printf("ut demo: backend %s (%s), %d ticks at 60 Hz\n", dev->caps().backend.c_str(), dev->caps().name.c_str(),
              o.frames);
  auto q_render = dev->make_queue({.kind = QueueKind::render, .label = "Q_render"});
  auto q_ml = dev->make_queue({.kind = QueueKind::compute, .label = "Q_ml"});
  auto q_blit = dev->make_queue({.kind = QueueKind::transfer, .label = "Q_blit"});
  auto e_frame = dev->make_event("E_frame"), e_embed = dev->make_event("E_embed"), e_rag = dev->make_event("E_rag"),
       e_blit = dev->make_event("E_blit");

  constexpr uint32_t kRows = 256, kDim = 384;
  const std::size_t bytes = std::size_t{kRows} * kDim * sizeof(float);
  // Double-buffered: the ML queue fills one buffer while the transfer queue copies the other out.
  auto heap = dev->make_heap({.size = 2 * bytes + 4096, .mode = StorageMode::shared, .label = "B_embed"});
  const Buffer embed_bufs[2] = {heap->allocate(bytes, 256, "embeddings.0"), heap->allocate(bytes, 256, "embeddings.1")};
  auto host_buf = dev->make_buffer(bytes, StorageMode::shared, "B_result");
  const bool have_kernel = kernels().find("demo.embed", dev->backend_name()) != nullptr;

  RingBuffer<uint64_t> tokens(256);  // the transfer lane produces, the render lane consumes
  std::atomic<uint64_t> tokens_seen{0};
  std::atomic<uint32_t> top_hit{0};  // written by the ML queue, read by the UI once E_rag says it is complete
  std::vector<double> frame_intervals_ms;
  uint64_t frames_with_fresh_data = 0, last_rag_seen = 0;

  const auto period = std::chrono::nanoseconds(1'000'000'000 / 60);
  auto next = std::chrono::steady_clock::now();
  uint64_t last_frame_ns = 0;
  for (int t = 1; t <= o.frames; ++t) {
    const auto tick = static_cast<uint64_t>(t);
    // Render: the heartbeat. It reads what is complete and never waits on ML.
    auto frame = q_render->make_command_buffer("frame " + std::to_string(t));
    frame
        .host_task([&] {
          while (auto tok = tokens.try_pop()) tokens_seen = *tok;
          const uint64_t rag = e_rag->signaled_value();
          if (rag > last_rag_seen) {
            ++frames_with_fresh_data;
            last_rag_seen = rag;
          }
        }, "draw")
        .signal(e_frame, tick)
        .commit();

    // ML: embed -> E_embed -> rag -> E_rag (one command buffer per stage, chained by events).
    const Buffer& embed_buf = embed_bufs[t % 2];
    auto embed = q_ml->make_command_buffer("embed " + std::to_string(t));
    // Reuse a buffer only after the transfer queue copied out its previous contents (tick t-2).
    if (t > 2) embed.wait(e_blit, tick - 2);
    if (have_kernel) {
      embed.dispatch("demo.embed", Grid{kRows}, DispatchArgs::make({embed_buf}, EmbedArgs{kDim, static_cast<uint32_t>(t)}));
    } else {
      embed.host_task([] {}, "embed (no kernel for this backend)");
    }
    embed.signal(e_embed, tick).commit();
    auto rag = q_ml->make_command_buffer("rag " + std::to_string(t));
    rag.wait(e_embed, tick)
        .host_task([embed_buf, &top_hit, tick] { top_hit = exact_top1(embed_buf.span<float>(), kRows, kDim, tick % kRows); },
                   "search")
        .signal(e_rag, tick)
        .commit();

    // Transfer: copy the result out, then hand a token to the UI through the ring.
    auto blit = q_blit->make_command_buffer("blit " + std::to_string(t));
    blit.wait(e_rag, tick)
        .copy(embed_buf, 0, host_buf, 0, bytes)
        .host_task([&tokens, tick] { (void)tokens.try_push(tick); }, "token")
        .signal(e_blit, tick)
        .commit();

    const uint64_t now = now_ns();
    if (last_frame_ns) frame_intervals_ms.push_back(static_cast<double>(now - last_frame_ns) / 1e6);
    last_frame_ns = now;
    next += period;
    std::this_thread::sleep_until(next);  // pace to the 60 Hz tick (a timer, not a poll)
  }
  q_render->wait_idle();
  q_ml->wait_idle();
  q_blit->wait_idle();
  tokens.close();

  // Check the result the transfer lane delivered: unit-norm rows.
  double worst = 0;
  if (have_kernel) {
    auto v = host_buf.span<float>();
    for (uint32_t r = 0; r < kRows; ++r) {
      double n = 0;
      for (uint32_t k = 0; k < kDim; ++k) n += static_cast<double>(v[r * kDim + k]) * v[r * kDim + k];
      worst = std::max(worst, std::abs(std::sqrt(n) - 1.0));
    }
  }
  dev->trace().write_chrome_json(o.trace_path);
  std::printf("\n%-10s %-9s %9s %8s %12s %12s\n", "queue", "kind", "priority", "buffers", "avg run ms", "busy ms");
  for (auto* q : {q_render.get(), q_ml.get(), q_blit.get()}) {
    const auto s = q->stats();
    std::printf("%-10s %-9s %9s %8llu %12.3f %12.1f\n", q->label().c_str(), to_string(q->kind()),
                to_string(q->priority()), static_cast<unsigned long long>(s.completed), s.avg_run_ms,
                static_cast<double>(s.busy_ns) / 1e6);
  }
  std::printf("\nevents: E_frame=%llu E_embed=%llu E_rag=%llu E_blit=%llu\n",
              static_cast<unsigned long long>(e_frame->signaled_value()),
              static_cast<unsigned long long>(e_embed->signaled_value()),
              static_cast<unsigned long long>(e_rag->signaled_value()),
              static_cast<unsigned long long>(e_blit->signaled_value()));
  std::printf("frames: %d, tick interval p50 %.2f ms, p99 %.2f ms, max %.2f ms; frames that saw new RAG data: %llu\n",
              o.frames, pct(frame_intervals_ms, 0.5), pct(frame_intervals_ms, 0.99), pct(frame_intervals_ms, 1.0),
              static_cast<unsigned long long>(frames_with_fresh_data));
  std::printf("tokens through the ring: last %llu; result rows unit-norm within %.2e; last nearest row %u\n",
              static_cast<unsigned long long>(tokens_seen.load()), worst, top_hit.load());
  std::printf("trace: %s (%zu command buffers; open in https://ui.perfetto.dev)\n", o.trace_path.c_str(),
              dev->trace().snapshot().size());
  const bool ok = e_blit->signaled_value() == static_cast<uint64_t>(o.frames) && worst < 1e-3;
  if (!ok) std::fprintf(stderr, "ut demo: the pipeline did not complete every tick\n");
  return ok ? 0 : 1;
}

}  // namespace ut::app
