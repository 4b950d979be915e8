#include "bench/cuda/cuda_report.h"

#include <string>
#include <utility>
#include <vector>

namespace ut::bench {
namespace {

using json = nlohmann::json;

// A distribution of bench/stats.h (to_json) as one samples entry; phases that failed have none.
void add_dist(Report& r, const std::string& case_name, const std::string& side, const json& d) {
  if (!d.is_object() || !d.contains("values")) return;
  const std::string unit = d.value("unit", "us");
  r.add(case_name, side, "latency_" + unit, unit, d["values"].get<std::vector<double>>());
}

const json& at(const json& j, const char* a, const char* b = nullptr) {
  static const json none;
  if (!j.contains(a)) return none;
  return b ? (j[a].contains(b) ? j[a][b] : none) : j[a];
}

// A phase that threw is recorded as {"error": ...}: a note, never a silent gap.
void note_errors(Report& r, const json& cuda) {
  for (const char* phase : {"gpu_to_gpu_event", "gpu_to_host", "host_to_gpu", "qos", "copy_compute_overlap"})
    if (at(cuda, phase).contains("error"))
      r.add_note(std::string("CUDA phase ") + phase + " failed: " + at(cuda, phase, "error").get<std::string>());
  const json& g = at(cuda, "qos", "green_context");
  for (const char* k : {"error", "skipped"})
    if (g.contains(k)) r.add_note("green context: " + g[k].get<std::string>());
}

const Series* series(const Report& r, const char* case_name, const char* side) {
  return r.find(case_name, side, "latency_us");
}

double median_of(const Series* s) { return s ? summarize(s->values).median.value_or(0) : 0; }

void goals(Report& r) {
  const Series *ours = series(r, "gpu_to_gpu_event", "ours"), *raw = series(r, "gpu_to_gpu_event", "raw CUDA");
  if (ours && raw && !ours->values.empty() && !raw->values.empty()) {
    const double v = median_of(ours), p = median_of(raw);
    r.add_goal({.kpi = "GPU→GPU event across two streams vs raw CUDA stream memory ops (p50)",
                .goal = "<= 1.10x raw CUDA", .case_name = "gpu_to_gpu_event", .metric = "latency_us", .value = v,
                .met = v <= 1.10 * p, .peer = "raw CUDA", .peer_value = p});
  }
  const Series *cross = series(r, "cross_api_event_round_trip", "ours"),
               *cross_raw = series(r, "cross_api_event_round_trip", "raw CUDA");
  if (cross && cross_raw && !cross->values.empty() && !cross_raw->values.empty()) {
    const double v = median_of(cross), p = median_of(cross_raw);
    r.add_goal({.kpi = "GPU→GPU round trip CUDA → Vulkan → CUDA through shared timeline semaphores vs raw CUDA "
                       "stream memory ops (p50)",
                .goal = "<= 2x raw CUDA", .case_name = "cross_api_event_round_trip", .metric = "latency_us",
                .value = v, .met = v <= 2 * p, .peer = "raw CUDA", .peer_value = p});
  }
  const Series *green = series(r, "render_kernel_green_context_loaded", "ours"),
               *idle = series(r, "render_kernel_idle", "ours");
  if (green && idle && !green->values.empty() && !idle->values.empty()) {
    const double v = median_of(green), p = median_of(idle);
    r.add_goal({.kpi = "render-queue 2 µs kernel on an 8-SM green context, other SMs loaded, vs idle (p50)",
                .goal = "<= 2x idle", .case_name = "render_kernel_green_context_loaded", .metric = "latency_us",
                .value = v, .met = v <= 2 * p, .peer = "idle (same kernel, no load)", .peer_value = p});
  }
}

}  // namespace

void add_cuda_figures(Report& r, const json& c) {
  r.set_device("cuda", c.value("card", ""), c.value("driver", ""), c.value("sm_count", 0u),
               c.value("memory_total", std::size_t{0}));
  const std::string raw = "raw CUDA";
  add_dist(r, "gpu_to_gpu_event", "ours", at(c, "gpu_to_gpu_event", "shared_event"));
  add_dist(r, "gpu_to_gpu_event", raw, at(c, "gpu_to_gpu_event", "raw_stream_memops"));
  if (c.contains("cross_api_event") && c["cross_api_event"].contains("shared_semaphores")) {
    add_dist(r, "cross_api_event_round_trip", "ours", at(c, "cross_api_event", "shared_semaphores"));
    add_dist(r, "cross_api_event_round_trip", raw, at(c, "cross_api_event", "raw_stream_memops"));
  }
  add_dist(r, "gpu_to_host_notify", "ours", at(c, "gpu_to_host", "notify_listener"));
  add_dist(r, "gpu_to_host_notify", raw, at(c, "gpu_to_host", "raw_host_spin_on_word"));
  add_dist(r, "gpu_to_host_thread_wait", "ours", at(c, "gpu_to_host", "host_wait_wakeup"));
  add_dist(r, "host_to_gpu_release", "ours", at(c, "host_to_gpu", "shared_event"));
  add_dist(r, "host_to_gpu_release", raw, at(c, "host_to_gpu", "raw_host_store"));
  const json& q = at(c, "qos");
  for (const char* k : {"idle", "loaded_equal_priority", "loaded_high_priority"})
    add_dist(r, std::string("render_kernel_") + k, "ours", at(q, k));
  add_dist(r, "render_kernel_green_context_idle", "ours", at(at(q, "green_context"), "idle"));
  add_dist(r, "render_kernel_green_context_loaded", "ours", at(at(q, "green_context"), "loaded"));
  const json& o = at(c, "copy_compute_overlap");
  for (const char* k : {"concurrent", "serialized", "copy_alone"})
    if (o.contains(k))
      r.add("copy_compute_overlap", "ours", std::string(k) + "_ms", "ms", o[k]["values"].get<std::vector<double>>());
  if (o.contains("copy_gb_per_s"))
    r.add("copy_compute_overlap", "ours", "copy_gb_per_s", "GB/s", o["copy_gb_per_s"].get<double>());

  auto& cfg = r.config();
  cfg["cuda_iterations"] = c.value("iterations", 0);
  cfg["gpu_side_events"] = c.value("gpu_side_events", "");
  cfg["priority_range"] = c.value("priority_range", json::array());
  json methods = json::object();
  for (const char* k : {"gpu_to_gpu_event", "gpu_to_host", "host_to_gpu", "qos", "copy_compute_overlap"})
    if (at(c, k).contains("method")) methods[k] = at(c, k, "method");
  cfg["methods"] = methods;
  if (q.contains("tick_kernel_ns")) {
    cfg["qos"] = {{"tick_kernel_ns", q["tick_kernel_ns"]},
                  {"load_block_us", q["load_block_us"]},
                  {"load_blocks_per_launch", q["load_blocks_per_launch"]},
                  {"native_priorities", q["native_priorities"]}};
  }
  const json& g = at(q, "green_context");
  if (g.contains("sms_reserved"))
    cfg["green_context"] = {{"sms_reserved", g["sms_reserved"]}, {"sms_for_load", g["sms_for_load"]}};
  if (o.contains("bytes")) {
    cfg["copy_bytes"] = o["bytes"];
    cfg["copy_data_verified"] = o["data_verified"];
    cfg["compute_kernel_ms"] = o["compute_ms"];  // the spin kernel is as long as the copy's median
  }
  if (at(c, "gpu_to_host").contains("clock_offset_drift_us"))
    cfg["gpu_to_host_clock_offset_drift_us"] = at(c, "gpu_to_host", "clock_offset_drift_us");
  cfg["nvml_after_run"] = c.value("nvml", json::object());
  note_errors(r, c);
  goals(r);
}

}  // namespace ut::bench
