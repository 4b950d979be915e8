#include "bench/gpu_timeline/gpu_timeline_bench.h"

#include <algorithm>
#include <cmath>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "bench/report.h"
#include "engine/runtime.h"
#include "engine/ui_feed.h"
#include "timeline/clock.h"
#include "timeline/error.h"
#include "workloads/data/datasets.h"
#include "workloads/ml/runtime.h"
#include "workloads/render/frame_loop.h"
#include "workloads/ml/gpu_decoder.h"
#include "workloads/render/render_lane.h"
#include "workloads/render/renderer.h"
#include "workloads/render/ui_model.h"

namespace ut::bench {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// GROUP BYs the planner sends to the pre-aggregation kernels (narrow keys, sum/min/max/count).
const char* kQueries[] = {
    "SELECT l_returnflag, sum(l_quantity), count(*) FROM lineitem GROUP BY l_returnflag",
    "SELECT l_linestatus, min(l_discount), max(l_tax), count(*) FROM lineitem GROUP BY l_linestatus",
    "SELECT l_shipmode, sum(l_extendedprice) FROM lineitem GROUP BY l_shipmode",
};
constexpr int kQueryCount = 3;

std::string doc_text(int doc, int variant) {
  static const char* w[] = {"queue", "event", "heap", "kernel", "frame", "token", "vector", "index",
                            "table", "package", "render", "signal", "stream", "buffer", "context", "answer"};
  std::mt19937_64 rng(static_cast<uint64_t>(doc) * 7919 + static_cast<uint64_t>(variant));
  std::string s;
  for (int i = 0; i < 400; ++i) s += std::string(w[rng() % 16]) + (i % 13 == 12 ? ".\n" : " ");
  return s;
}

// The median the JSON summary carries (bench/report.h), 0 without samples.
double median(const std::vector<double>& v) { return summarize(v).median.value_or(0.0); }

// Nearest-rank percentile (q in 0..1).
double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::max(1.0, std::ceil(q * static_cast<double>(v.size()))));
  return v[std::min(rank, v.size()) - 1];
}

struct Phase {  // one phase's frames
  std::vector<double> frame_ms, gpu_ms, interval_ms;
  uint64_t late = 0;
  static Phase of(const render::FrameStats& s) {
    Phase p;
    for (const auto& f : s.samples()) {
      p.frame_ms.push_back(f.cpu_ms);
      if (f.gpu_ms >= 0) p.gpu_ms.push_back(f.gpu_ms);
      if (f.interval_ms > 0) p.interval_ms.push_back(f.interval_ms);
      p.late += f.late ? 1 : 0;
    }
    return p;
  }
  uint64_t over(double ms) const {
    return static_cast<uint64_t>(std::count_if(frame_ms.begin(), frame_ms.end(), [ms](double x) { return x > ms; }));
  }
};

// What one run (one SM partition) measured.
struct RunResult {
  int reserve_sms_asked = 0;
  std::string partition;
  unsigned reserved_sms = 0;
  Phase idle, loaded;
  std::vector<double> decode_alone, decode_loaded;  // each chat's own decode tokens/s
  std::vector<double> sql_alone_ms, sql_loaded_ms;
  uint64_t load_iterations_embed = 0;
  int warmup_batches = 0;
  std::string sql_engine;
};

// Where each lane ran; `ok` when every lane is on the GPU.
struct Placement {
  std::string engine, ml, sql, frames;
  bool ok = false;
};

class GpuRun {
 public:
  GpuRun(const GpuTimelineOptions& o, int reserve, const fs::path& dir) : o_(o) {
    engine::RuntimeConfig rc{.engine = {.backend = o.backend, .max_heavy_ops = o.chats + 4, .reserve_sms = reserve},
                             .db_path = (dir / ("gpu-timeline-" + std::to_string(reserve) + ".duckdb")).string(),
                             .embed_model = o.embed_model, .chat_model = o.chat_model, .heartbeat = false,
                             .governor = false};
    rc.assistant.parallel = std::max(1, o.chats);
    rc.assistant.rag_deadline = 60s;
    rt_ = std::make_unique<engine::Runtime>(rc);
    if (o.own_decoder) make_own_decoder();
  }
  engine::Runtime& rt() { return *rt_; }
  // The UI the frames draw, fed by this run's own lanes: each batch's first chat (prompt, answer, speed), each
  // GROUP BY's rows and time, the documents' embedding state, the engine's events and heap. Set before the frames
  // start; from then on each view has one writer at a time (the set-up, then one load thread per lane).
  void attach(render::UiModel& ui) {
    ui_ = &ui;
    engine::show_engine(ui, rt_->engine());
    ui.rag.publish({.ready_value = 0});  // the measured chats retrieve nothing (the same prompt alone and loaded)
    publish_docs();
  }

  void set_up() {
    {
      auto s = rt_->database().connect();
      data::generate_lineitem(s, {.rows = o_.rows, .seed = 11});
    }
    auto& ai = rt_->assistant();
    for (int d = 0; d < o_.edits; ++d) docs_.push_back(ai.docs()->create("doc" + std::to_string(d) + ".md", doc_text(d, 0)));
    ai.schedule_indexing();
    if (!ai.wait_indexed(600s)) throw Error("set-up: documents were not embedded in 600 s");
    // Warm-up: the first decodes build the CUDA graphs, and the decode step tuner settles over a few batches;
    // until two batches in a row agree within 15% (at most 10).
    for (double last = 0, now = 0; warmup_batches_ < 10; last = now) {
      now = median(chat_batch());
      ++warmup_batches_;
      if (last > 0 && std::abs(now - last) <= 0.15 * last) break;
    }
    sql(0);
  }

  // One batch of `chats` chats decoding together; each chat's decode tokens/s.
  std::vector<double> chat_batch() {
    if (own_) return own_decode();
    std::vector<std::shared_ptr<engine::ChatJob>> jobs;
    for (int i = 0; i < o_.chats; ++i) {
      jobs.push_back(rt_->assistant().chat(
          {.messages = {{"user", "Question " + std::to_string(i) + ": which queue draws the frames?"}},
           .gen = {.sampling = {.temperature = 0.f}, .max_tokens = o_.tokens, .ignore_eog = true},
           .retrieve = false}));  // the same prompt alone and under load (retrieval would add what it finds)
      if (!jobs.back()) throw Error("admission refused a chat");
    }
    std::vector<double> tps;
    for (auto& j : jobs) {
      j->wait();
      tps.push_back(j->result->decode_tokens_per_s());
    }
    if (ui_) {
      char status[96];
      std::snprintf(status, sizeof status, "done: %d chats x %d tokens, %.0f tokens/s each", o_.chats, o_.tokens,
                    median(tps));
      ui_->chat.publish({.prompt = "Question 0: which queue draws the frames?", .status = status,
                         .model = rt_->assistant().chat_model_name()});
      (void)ui_->tokens.try_push({.text = jobs.front()->result->text, .end_of_message = true});
    }
    return tps;
  }
  double sql(int i) {
    const uint64_t t0 = now_ns();
    const data::QueryTicket t = rt_->data().submit({.sql = kQueries[i % kQueryCount]});
    const data::Result& r = t.get();
    sql_engine_ = t.slot->engine;
    const double ms = static_cast<double>(now_ns() - t0) / 1e6;
    if (ui_) publish_sql(kQueries[i % kQueryCount], r, ms);
    return ms;
  }
  // One re-embedding pass over every document (each edit changes every chunk).
  void embed_pass() {
    auto& ai = rt_->assistant();
    ++variant_;
    for (int d = 0; d < o_.edits; ++d) ai.docs()->update(docs_[static_cast<std::size_t>(d)], doc_text(d, variant_));
    ai.schedule_indexing();
    ai.wait_indexed(600s);
    if (ui_) publish_docs();
  }
  const std::string& sql_engine() const { return sql_engine_; }
  int warmup_batches() const { return warmup_batches_; }
  // Where the own decode path runs ("" when the chats run on llama.cpp).
  const std::string& own_placement() const { return own_where_; }

 private:
  void make_own_decoder() {
    const DevicePtr& dev = rt_->engine().device_ptr();
    if (dev->caps().backend != "cuda") throw Error("--own-decoder needs the engine on the CUDA backend");
    const bool part = dev->caps().partition.active;
    auto q = dev->make_queue({.kind = QueueKind::compute, .label = "Q_ml.decode",
                              .partition = part ? SmPartition::work : SmPartition::any});
    rt_->engine().add_queue("Q_ml.decode", q);
    const std::string& path = rt_->assistant().chat_model_path();
    own_ = std::make_unique<ml::GpuDecoder>(dev, q, path, ml::GpuDecoder::Options{.n_ctx = 16 + o_.tokens + 1});
    own_where_ = "own CUDA path on " + dev->caps().name + (part ? ", work partition" : "") + " (" +
                 fs::path(path).filename().string() + ")";
  }
  // One greedy sequence on the own decode path: a fixed 16-token prompt, then `tokens` tokens; its decode tokens/s.
  std::vector<double> own_decode() {
    std::vector<int32_t> prompt(16);
    for (int i = 0; i < 16; ++i) prompt[static_cast<std::size_t>(i)] = (1000 + 37 * i) % own_->shape().n_vocab;
    own_->reset();
    own_->feed(prompt);
    const uint64_t t0 = now_ns();
    own_->generate({}, o_.tokens);
    const double tps = (o_.tokens - 1) / (static_cast<double>(now_ns() - t0) / 1e9);
    if (ui_) {
      char status[96];
      std::snprintf(status, sizeof status, "done: %d tokens at %.0f tokens/s (own CUDA path)", o_.tokens, tps);
      ui_->chat.publish({.prompt = "(16 fixed token ids: a speed run)", .status = status, .model = own_where_});
    }
    return {tps};
  }

  void publish_sql(const std::string& query, const data::Result& r, double ms) {
    render::SqlView v{.query = query, .status = render::SqlStatus::done};
    char msg[160];
    std::snprintf(msg, sizeof msg, "%zu rows over %llu in %.1f ms (%s)", r.rows(),
                  static_cast<unsigned long long>(o_.rows), ms, sql_engine_.c_str());
    v.message = msg;
    for (const auto& c : r.columns) v.columns.push_back(c.name);
    for (std::size_t row = 0; row < r.rows(); ++row) {
      std::vector<std::string> cells;
      for (const auto& c : r.columns) cells.push_back(c.text(row));
      v.rows.push_back(std::move(cells));
    }
    ui_->sql.publish(std::move(v));
  }
  void publish_docs() {
    render::DocsView v;
    for (const auto& d : rt_->assistant().docs()->list())
      v.docs.push_back({.id = d.id, .name = d.title, .chunks = d.chunks, .embedded = d.embedded, .failed = d.failed});
    ui_->docs.publish(std::move(v));
  }

  const GpuTimelineOptions& o_;
  render::UiModel* ui_ = nullptr;
  std::unique_ptr<engine::Runtime> rt_;
  std::vector<uint64_t> docs_;
  std::unique_ptr<ml::GpuDecoder> own_;
  std::string own_where_;
  int variant_ = 0;
  int warmup_batches_ = 0;
  std::string sql_engine_;
};

// The full load: chats decoding in batches, the GROUP BYs back to back, documents re-embedded, each on a thread
// of its own until stop().
class Load {
 public:
  explicit Load(GpuRun& run) : run_(run) {}
  void start() {
    threads_.emplace_back([this] { loop([this] { add(decode_, run_.chat_batch()); }); });
    threads_.emplace_back([this] { loop([this, i = 0]() mutable { add(sql_, {run_.sql(i++)}); }); });
    threads_.emplace_back([this] { loop([this] { run_.embed_pass(); ++embeds_; }); });
  }
  void stop() {
    stop_ = true;
    threads_.clear();  // joins (each finishes its current step)
    if (error_) std::rethrow_exception(error_);
  }
  std::vector<double> decode() const { std::lock_guard<std::mutex> l(m_); return decode_; }
  std::vector<double> sql() const { std::lock_guard<std::mutex> l(m_); return sql_; }
  uint64_t embeds() const { return embeds_.load(); }

 private:
  void loop(const std::function<void()>& step) {
    try {
      while (!stop_) step();
    } catch (...) {
      std::lock_guard<std::mutex> l(m_);
      if (!error_) error_ = std::current_exception();
    }
  }
  void add(std::vector<double>& to, const std::vector<double>& v) {
    std::lock_guard<std::mutex> l(m_);
    to.insert(to.end(), v.begin(), v.end());
  }
  GpuRun& run_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> embeds_{0};
  mutable std::mutex m_;
  std::vector<double> decode_, sql_;
  std::exception_ptr error_;
  std::vector<std::jthread> threads_;
};

Placement placement_of(engine::Runtime& rt, const render::RenderLane& lane, const std::string& sql_engine,
                       const std::string& own_decoder) {
  Placement p;
  const DeviceCaps& caps = rt.engine().device().caps();
  p.engine = caps.backend + " (" + caps.name + ")";
  const std::string gpu = ml::Runtime::gpu_name();
  p.ml = gpu.empty() ? "cpu" : "cuda (" + gpu + ")";
  if (!own_decoder.empty()) p.ml += "; decode: " + own_decoder;
  p.sql = sql_engine;
  p.frames = lane.renderer->device_name() + " (" + lane.renderer->device_type() + "), " + lane.placement;
  p.ok = caps.backend == "cuda" && !gpu.empty() && sql_engine.rfind("kernel", 0) == 0 &&
         lane.renderer->device_type() != "cpu" && lane.on_timeline();
  return p;
}

void print_run(const RunResult& r) {
  const auto line = [](const char* what, const Phase& p) {
    std::printf("  %-7s %6zu frames | frame ms p50 %6.2f p99 %6.2f max %7.2f | gpu ms p50 %5.2f p99 %5.2f | interval p99 "
                "%6.2f ms | >16.6 ms %llu | late %llu\n",
                what, p.frame_ms.size(), percentile(p.frame_ms, 0.5), percentile(p.frame_ms, 0.99),
                percentile(p.frame_ms, 1.0), percentile(p.gpu_ms, 0.5), percentile(p.gpu_ms, 0.99),
                percentile(p.interval_ms, 0.99), static_cast<unsigned long long>(p.over(16.6)),
                static_cast<unsigned long long>(p.late));
  };
  std::printf(" run: SM partition %s\n", r.partition.c_str());
  line("idle", r.idle);
  line("loaded", r.loaded);
  std::printf("  decode tokens/s per chat: alone %.1f, loaded %.1f (%.0f%%) | GROUP BY ms: alone %.1f, loaded %.1f | "
              "embedding passes under load %llu\n",
              median(r.decode_alone), median(r.decode_loaded),
              100.0 * median(r.decode_loaded) / std::max(1e-9, median(r.decode_alone)), median(r.sql_alone_ms),
              median(r.sql_loaded_ms), static_cast<unsigned long long>(r.load_iterations_embed));
  std::fflush(stdout);
}

// The per-run record, and every sample behind it.
// The case of a run's samples: the partition asked for ("reserve_sms=auto", "reserve_sms=0").
std::string case_of(const RunResult& r) {
  return "reserve_sms=" + (r.reserve_sms_asked < 0 ? std::string("auto") : std::to_string(r.reserve_sms_asked));
}

nlohmann::ordered_json add_run(Report& rep, const RunResult& r, bool first) {
  const std::string c = case_of(r);
  for (const auto& [phase, p] : {std::pair{"idle", &r.idle}, std::pair{"loaded", &r.loaded}}) {
    const std::string ph = phase;
    if (ph == "idle" && !first) continue;  // measured once, in the first run
    const std::string cs = ph == "idle" ? std::string("idle") : c;
    rep.add(cs, "ours", "frame_ms_" + ph, "ms", p->frame_ms);
    rep.add(cs, "ours", "frame_gpu_ms_" + ph, "ms", p->gpu_ms);
    rep.add(cs, "ours", "frame_interval_ms_" + ph, "ms", p->interval_ms);
  }
  rep.add(c, "ours", "decode_tok_s_alone", "tokens/s", r.decode_alone);
  rep.add(c, "ours", "decode_tok_s_loaded", "tokens/s", r.decode_loaded);
  rep.add(c, "ours", "group_by_ms_alone", "ms", r.sql_alone_ms);
  rep.add(c, "ours", "group_by_ms_loaded", "ms", r.sql_loaded_ms);
  return {{"reserved_sms", r.reserved_sms},
          {"reserve_sms_asked", r.reserve_sms_asked},
          {"partition", r.partition},
          {"frames_total", r.loaded.frame_ms.size()},
          {"frames_over_16_6ms", r.loaded.over(16.6)},
          {"late_frames", r.loaded.late},
          {"frame_ms_p99_loaded", percentile(r.loaded.frame_ms, 0.99)},
          {"frame_interval_ms_p99", percentile(r.loaded.interval_ms, 0.99)},
          {"frame_interval_ms_p99_idle", percentile(r.idle.interval_ms, 0.99)},
          {"frame_gpu_ms_p50_idle", percentile(r.idle.gpu_ms, 0.5)},
          {"frame_gpu_ms_p99_idle", percentile(r.idle.gpu_ms, 0.99)},
          {"frame_gpu_ms_p50_loaded", percentile(r.loaded.gpu_ms, 0.5)},
          {"frame_gpu_ms_p99_loaded", percentile(r.loaded.gpu_ms, 0.99)},
          {"idle_frames_over_16_6ms", r.idle.over(16.6)},
          {"decode_tok_s_alone", median(r.decode_alone)},
          {"decode_tok_s_loaded", median(r.decode_loaded)},
          {"group_by_ms_alone", median(r.sql_alone_ms)},
          {"group_by_ms_loaded", median(r.sql_loaded_ms)},
          {"embedding_passes_under_load", r.load_iterations_embed},
          {"warmup_chat_batches", r.warmup_batches},
          {"sql_engine", r.sql_engine}};
}

void add_goals(Report& rep, const RunResult& r, bool quick) {
  if (quick) return;
  const std::string c = case_of(r);
  const std::string part = r.reserved_sms ? " (" + std::to_string(r.reserved_sms) + " SMs reserved)" : " (no partition)";
  const double over = static_cast<double>(r.loaded.over(16.6));
  rep.add_goal({.kpi = "frames over 16.6 ms under full GPU load" + part, .goal = "<= 0 frames", .case_name = c,
                .metric = "frame_ms_loaded", .value = over, .met = over <= 0, .statistic = "count",
                .detail = "of " + std::to_string(r.loaded.frame_ms.size()) + " frames"});
  const double g_idle = percentile(r.idle.gpu_ms, 0.99), g_load = percentile(r.loaded.gpu_ms, 0.99);
  rep.add_goal({.kpi = "frame GPU time p99 under full load vs idle" + part, .goal = "<= 2x idle", .case_name = c,
                .metric = "frame_gpu_ms_loaded", .value = g_load, .met = g_load <= 2 * g_idle, .peer = "idle",
                .peer_value = g_idle, .peer_metric = "frame_gpu_ms_idle", .statistic = "p99"});
  const double iv = percentile(r.loaded.interval_ms, 0.99);
  rep.add_goal({.kpi = "frame interval p99 under full load" + part, .goal = "<= 17.0 ms", .case_name = c,
                .metric = "frame_interval_ms_loaded", .value = iv, .met = iv <= 17.0, .statistic = "p99"});
  const double da = median(r.decode_alone), dl = median(r.decode_loaded);
  rep.add_goal({.kpi = "decode tokens/s under full load vs alone, same partition" + part, .goal = ">= 0.9x alone",
                .case_name = c, .metric = "decode_tok_s_loaded", .value = dl, .met = dl >= 0.9 * da, .peer = "alone",
                .peer_value = da, .peer_metric = "decode_tok_s_alone"});
}

// Frames of one phase. A frame the GPU never finishes (FrameLoopDesc::frame_deadline) ends the process here: the
// renderer's and the queues' teardown would wait on that frame for ever.
void run_frames(render::FrameLoop& loop, int frames) {
  try {
    loop.run(static_cast<uint64_t>(frames));
  } catch (const BackendError& e) {
    std::fprintf(stderr, "ut bench gpu-timeline: %s\nut bench gpu-timeline: exiting without tearing the GPU device down\n",
                 e.what());
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(3);
  }
}

// One run: the Runtime with this partition, its set-up, then (idle frames on the first run only: the frames are
// Vulkan's, outside any CUDA partition) decode and GROUP BY alone, then frames, decode and GROUP BY under load.
RunResult one_run(const GpuTimelineOptions& o, int reserve, const fs::path& dir, const Phase* idle, bool last,
                  nlohmann::ordered_json& where, bool& lanes_ok, std::optional<DeviceCaps>& device) {
  GpuRun run(o, reserve, dir);
  engine::Runtime& rt = run.rt();
  render::RenderLane lane = render::RenderLane::create({.renderer = {.width = o.width, .height = o.height}});
  RunResult r;
  r.reserve_sms_asked = reserve;
  const DeviceCaps& caps = rt.engine().device().caps();
  if (!device) device = caps;
  r.partition = engine::partition_text(caps);
  r.reserved_sms = caps.partition.active ? caps.partition.reserved_sms : 0;
  std::printf(" set-up: %llu rows, %d documents, warm-up chat and query ...\n", static_cast<unsigned long long>(o.rows),
              o.edits);
  std::fflush(stdout);
  run.set_up();
  r.warmup_batches = run.warmup_batches();
  const Placement p = placement_of(rt, lane, run.sql_engine(), run.own_placement());
  where = {{"engine", p.engine}, {"ml", p.ml}, {"sql", p.sql}, {"frames", p.frames}};
  std::printf(" lanes: engine %s | ML %s | SQL %s | frames %s\n", p.engine.c_str(), p.ml.c_str(), p.sql.c_str(),
              p.frames.c_str());
  std::fflush(stdout);
  lanes_ok = p.ok;
  if (!p.ok && !o.allow_cpu_lanes) return r;

  render::UiModel model;
  run.attach(model);
  // The Vulkan timeline device; on the renderer's own device (no Vulkan backend: a smoke run) the engine's.
  render::FrameLoop loop({.device = lane.device ? lane.device : rt.engine().device_ptr(), .queue = lane.queue,
                          .e_frame = lane.e_frame,
                          .renderer = lane.renderer.get(), .model = &model});
  model.watch_event(loop.frame_event());
  run_frames(loop, 60);  // warm-up (pipelines, font upload), not counted
  if (idle) {
    r.idle = *idle;
  } else {
    loop.reset_stats();
    run_frames(loop, o.idle_frames > 0 ? o.idle_frames : o.frames);
    r.idle = Phase::of(loop.stats());
  }

  for (int i = 0; i < 5; ++i) {  // alone: nothing else on the GPU
    const auto tps = run.chat_batch();
    r.decode_alone.insert(r.decode_alone.end(), tps.begin(), tps.end());
  }
  for (int i = 0; i < 3 * kQueryCount; ++i) r.sql_alone_ms.push_back(run.sql(i));

  Load load(run);
  load.start();
  std::this_thread::sleep_for(1s);  // every lane past its first step
  loop.reset_stats();
  std::jthread shot;  // halfway through the loaded frames: every pane and the frame statistics filled by then
  if (last && !o.screenshot.empty())
    shot = std::jthread([&loop, &o](std::stop_token st) {
      const auto at = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.frames * 1000 / 120);
      while (!st.stop_requested() && std::chrono::steady_clock::now() < at) std::this_thread::sleep_for(50ms);
      if (!st.stop_requested()) loop.request_screenshot(o.screenshot);
    });
  run_frames(loop, o.frames);
  shot = {};
  r.loaded = Phase::of(loop.stats());
  load.stop();
  r.decode_loaded = load.decode();
  r.sql_loaded_ms = load.sql();
  r.load_iterations_embed = load.embeds();
  r.sql_engine = run.sql_engine();
  return r;
}

void save(Report& rep, const GpuTimelineOptions& o, const nlohmann::ordered_json& lanes,
          const nlohmann::ordered_json& runs, const std::optional<DeviceCaps>& device) {
  if (device) rep.set_device(*device);
  rep.config() = {{"frames_loaded", o.frames}, {"frames_idle", o.idle_frames > 0 ? o.idle_frames : o.frames}, {"resolution", {o.width, o.height}}, {"chats", o.chats},
                  {"tokens", o.tokens}, {"rows", o.rows}, {"edits", o.edits}, {"quick", o.quick},
                  {"lanes", lanes}, {"runs", runs},
                  {"frame_ms", "a frame's time from the start of its ImGui build to its GPU completion (the "
                               "frames_over_16_6ms count); frame_gpu_ms from Vulkan timestamp queries"},
                  {"load", "chats decoding in batches back to back, the GROUP BYs back to back on the data path, "
                           "every document re-embedded back to back; each on a thread of its own"}};
  if (o.screenshot.size()) rep.config()["screenshot"] = o.screenshot;
  rep.config()["own_decoder"] = o.own_decoder;
  if (o.own_decoder)
    rep.config()["load"] = "one greedy sequence on the own CUDA decode path (16-token prompt, `tokens` tokens) back "
                           "to back, the GROUP BYs back to back on the data path, every document re-embedded back to "
                           "back; each on a thread of its own";
  rep.write(o.json_path);
}

}  // namespace

int run_gpu_timeline_bench(GpuTimelineOptions o) {
  if (o.quick) {
    o.frames = 120;
    o.idle_frames = 120;
    o.chats = 2;
    o.tokens = 16;
    o.rows = 1'100'000;  // the planner sends GROUP BYs over >= 1M rows to the kernels
    o.edits = 4;
  }
  if (o.reserve_sms.empty()) throw UsageError("--reserve-sms: at least one partition");
  const fs::path dir = fs::temp_directory_path() / ("ut-bench-gpu-timeline-" + std::to_string(getpid()));
  fs::create_directories(dir);
  Report rep("gpu-timeline");
  nlohmann::ordered_json runs = nlohmann::ordered_json::array(), lanes;
  std::optional<DeviceCaps> device;
  std::printf("ut bench gpu-timeline: %d frames per phase at 60 Hz, %ux%u; load: %d chats x %d tokens, GROUP BYs over "
              "%llu rows, %d documents re-embedded\n",
              o.frames, o.width, o.height, o.chats, o.tokens, static_cast<unsigned long long>(o.rows), o.edits);
  std::optional<Phase> idle;
  for (std::size_t i = 0; i < o.reserve_sms.size(); ++i) {
    bool ok = false;
    RunResult r;
    try {
      r = one_run(o, o.reserve_sms[i], dir, idle ? &*idle : nullptr, i + 1 == o.reserve_sms.size(), lanes, ok, device);
    } catch (const BackendError& e) {
      std::fprintf(stderr, "ut bench gpu-timeline: %s\n", e.what());
      return 2;
    }
    if (!ok && !o.allow_cpu_lanes) {
      std::fprintf(stderr, "ut bench gpu-timeline: a lane is not on the GPU (above); this benchmark measures one GPU "
                           "(--allow-cpu-lanes runs it anyway, as a smoke run)\n");
      return 2;
    }
    print_run(r);
    runs.push_back(add_run(rep, r, !idle));
    if (!idle) idle = r.idle;
    add_goals(rep, r, o.quick || !ok);
    save(rep, o, lanes, runs, device);  // after every run: a run cut short by a time limit keeps the ones before
  }
  std::printf("saved %s\n", o.json_path.c_str());
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}

}  // namespace ut::bench
