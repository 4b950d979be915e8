#include "bench/ui/demo_lanes.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "timeline/clock.h"

namespace ut::bench {

using namespace ut::render;

DemoLanes::DemoLanes(const DevicePtr& dev, UiModel& model, bool paced, std::optional<QueuePriority> ml_priority)
    : dev_(dev), model_(model), paced_(paced) {
  q_ml_ = dev->make_queue({.kind = QueueKind::compute, .priority = ml_priority, .label = "Q_ml"});
  q_blit_ = dev->make_queue({.kind = QueueKind::transfer, .label = "Q_blit"});
  q_host_ = dev->make_queue({.kind = QueueKind::host, .label = "Q_host"});
  e_embed_ = dev->make_event("E_embed");
  e_blit_ = dev->make_event("E_blit");
  e_rag_ = model.e_rag = dev->make_event("E_rag");  // set-up: the FrameLoop is not running now
  heap_ = dev->make_heap({.size = 2 * kBytes + 4096, .label = "B_embed"});
  bufs_[0] = heap_->allocate(kBytes, 256, "embeddings.0");
  bufs_[1] = heap_->allocate(kBytes, 256, "embeddings.1");
  out_ = dev->make_buffer(kBytes, StorageMode::shared, "B_result");
  for (auto& e : {e_embed_, e_rag_, e_blit_}) model.watch_event(e);
  model.watch_heap(heap_);
  model.chat.publish({.prompt = "Summarise today's sales by region", .status = "waiting for the ML lane",
                      .model = "demo lanes (synthetic)"});
}

DemoLanes::~DemoLanes() { stop(); }

void DemoLanes::start() {
  thread_ = std::thread([this] { loop(); });
}

void DemoLanes::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  q_ml_->wait_idle();
  q_blit_->wait_idle();
  q_host_->wait_idle();
}

void DemoLanes::loop() {
  static const char* const words[] = {"North ", "leads ", "with ", "41% ", "of ", "revenue; ", "South ", "grew ",
                                      "12% ", "week ", "over ", "week. "};
  for (uint64_t i = 1; !stop_; ++i) {
    const Buffer buf = bufs_[i % 2];
    auto embed = q_ml_->make_command_buffer("embed " + std::to_string(i));
    if (i > 2) embed.wait(e_blit_, i - 2);  // reuse a buffer only after it was copied out
    embed.host_task([buf, i] {
           auto v = buf.span<float>();
           for (uint32_t r = 0; r < kRows; ++r) {
             double n = 0;
             for (uint32_t k = 0; k < kDim; ++k) {
               v[r * kDim + k] = std::sin(static_cast<float>(r * 131 + k * 7 + i));
               n += static_cast<double>(v[r * kDim + k]) * v[r * kDim + k];
             }
             const auto inv = static_cast<float>(1.0 / std::sqrt(n));
             for (uint32_t k = 0; k < kDim; ++k) v[r * kDim + k] *= inv;
           }
         }, "embed")
        .signal(e_embed_, i)
        .commit();
    auto rag = q_ml_->make_command_buffer("rag " + std::to_string(i));
    rag.wait(e_embed_, i)
        .host_task([this, buf, i] {
           auto v = buf.span<float>();
           float best = -2;
           uint32_t best_row = 0;
           for (uint32_t r = 1; r < kRows; ++r) {
             float d = 0;
             for (uint32_t k = 0; k < kDim; ++k) d += v[k] * v[r * kDim + k];
             if (d > best) {
               best = d;
               best_row = r;
             }
           }
           model_.rag.publish({.ready_value = i,
                               .sources = {{"sales.csv#" + std::to_string(best_row), best},
                                           {"docs/regions.md#2", 0.71f}}});
         }, "search")
        .signal(e_rag_, i)
        .commit();
    auto blit = q_blit_->make_command_buffer("blit " + std::to_string(i));
    blit.wait(e_rag_, i)
        .copy(buf, 0, out_, 0, kBytes)
        .host_task([this, i] {
           const bool end = i % 12 == 0;
           (void)model_.tokens.try_push({.text = words[(i - 1) % 12], .end_of_message = end});
         }, "token")
        .signal(e_blit_, i)
        .commit();
    if (i % 30 == 1) sql(i);
    if (i == 1) model_.chat.publish({.prompt = "Summarise today's sales by region", .status = "generating",
                                     .model = "demo lanes (synthetic)"});
    // Producer-side back-pressure: at most two iterations in flight (a host wait off the render path).
    if (i > 2) e_blit_->wait(i - 2, std::chrono::seconds(10));
    if (paced_) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void DemoLanes::sql(uint64_t i) {
  const std::string q = "SELECT region, sum(amount) FROM sales GROUP BY region ORDER BY 2 DESC";
  model_.sql.publish({.query = q, .status = SqlStatus::running, .message = "host lane (demo, not DuckDB)"});
  q_host_->make_command_buffer("sql " + std::to_string(i))
      .host_task([this, q, i] {
        const uint64_t t0 = now_ns();
        double sums[4] = {0, 0, 0, 0};
        for (uint64_t r = 0; r < 2'000'000; ++r) sums[(r * 2654435761u + i) % 4] += static_cast<double>(r % 97);
        SqlView v{.query = q, .status = SqlStatus::done};
        char msg[96];
        std::snprintf(msg, sizeof msg, "4 rows in %.1f ms (demo host lane, not DuckDB)",
                      static_cast<double>(now_ns() - t0) / 1e6);
        v.message = msg;
        v.columns = {"region", "sum(amount)"};
        const char* names[] = {"North", "South", "East", "West"};
        for (int k = 0; k < 4; ++k) v.rows.push_back({names[k], std::to_string(static_cast<long long>(sums[k]))});
        model_.sql.publish(std::move(v));
      }, "group by")
      .commit();
}

}  // namespace ut::bench
