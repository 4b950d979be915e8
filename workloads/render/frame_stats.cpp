#include "workloads/render/frame_stats.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>


namespace ut::render {

Distribution distribution(std::vector<double> ms) {
  Distribution d;
  if (ms.empty()) return d;
  std::sort(ms.begin(), ms.end());
  const auto n = ms.size();
  d.count = n;
  d.avg = std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(n);
  // Nearest-rank percentiles.
  auto rank = [&](double p) {
    const auto k = static_cast<std::size_t>(std::ceil(p * static_cast<double>(n)));
    return ms[std::min(n - 1, k == 0 ? 0 : k - 1)];
  };
  d.p50 = rank(0.50);
  d.p99 = rank(0.99);
  d.max = ms.back();
  const auto over = [&](double limit) {
    const auto c = static_cast<double>(ms.end() - std::upper_bound(ms.begin(), ms.end(), limit));
    return 100.0 * c / static_cast<double>(n);
  };
  d.over_16_6_pct = over(1000.0 / 60.0);
  d.over_33_pct = over(2000.0 / 60.0);
  const std::size_t worst = std::max<std::size_t>(1, n / 100);
  const double worst_avg = std::accumulate(ms.end() - static_cast<std::ptrdiff_t>(worst), ms.end(), 0.0) /
                           static_cast<double>(worst);
  d.one_pct_low_fps = worst_avg > 0 ? 1000.0 / worst_avg : 0.0;
  return d;
}

void FrameStats::add(const FrameSample& s) {
  if (samples_.size() >= history_) samples_.erase(samples_.begin(), samples_.begin() + static_cast<std::ptrdiff_t>(history_ / 2));
  samples_.push_back(s);
}

FrameStatsSummary FrameStats::summary() const {
  FrameStatsSummary out;
  out.frames = samples_.size();
  std::vector<double> cpu, gpu, interval;
  cpu.reserve(samples_.size());
  for (const auto& s : samples_) {
    cpu.push_back(s.cpu_ms);
    if (s.gpu_ms >= 0) gpu.push_back(s.gpu_ms);
    if (s.interval_ms > 0) interval.push_back(s.interval_ms);
    if (s.late) ++out.late_frames;
  }
  out.cpu = distribution(std::move(cpu));
  out.gpu = distribution(std::move(gpu));
  out.interval = distribution(std::move(interval));
  if (samples_.size() >= 2) {
    out.duration_s = static_cast<double>(samples_.back().start_ns - samples_.front().start_ns) / 1e9;
    if (out.duration_s > 0) out.achieved_hz = static_cast<double>(samples_.size() - 1) / out.duration_s;
  }
  return out;
}

std::vector<float> FrameStats::recent(std::size_t n, bool gpu) const {
  std::vector<float> v;
  const std::size_t from = samples_.size() > n ? samples_.size() - n : 0;
  for (std::size_t i = from; i < samples_.size(); ++i)
    v.push_back(static_cast<float>(gpu ? std::max(0.0, samples_[i].gpu_ms) : samples_[i].cpu_ms));
  return v;
}

namespace {
nlohmann::json dist_json(const Distribution& d) {
  return {{"count", d.count},          {"avg_ms", d.avg},           {"p50_ms", d.p50},
          {"p99_ms", d.p99},           {"max_ms", d.max},           {"over_16_6ms_pct", d.over_16_6_pct},
          {"over_33ms_pct", d.over_33_pct}, {"one_pct_low_fps", d.one_pct_low_fps}};
}
}  // namespace

std::string to_json(const Distribution& d) { return dist_json(d).dump(); }

std::string FrameStats::to_json(bool with_samples) const {
  const auto s = summary();
  nlohmann::json j = {{"target_hz", target_hz_},
                      {"frames", s.frames},
                      {"late_frames", s.late_frames},
                      {"duration_s", s.duration_s},
                      {"achieved_hz", s.achieved_hz},
                      {"cpu_frame_ms", dist_json(s.cpu)},
                      {"gpu_frame_ms", s.gpu.count ? dist_json(s.gpu) : nlohmann::json(nullptr)},
                      {"tick_interval_ms", dist_json(s.interval)}};
  if (with_samples) {
    auto& arr = j["samples"] = nlohmann::json::array();
    for (const auto& f : samples_)
      arr.push_back({{"i", f.index}, {"cpu_ms", f.cpu_ms}, {"gpu_ms", f.gpu_ms}, {"interval_ms", f.interval_ms},
                     {"late", f.late}});
  }
  return j.dump(2);
}

}  // namespace ut::render
