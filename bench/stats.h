// Latency distributions for the benchmarks (`ut bench ...`): percentiles for the console, and their JSON form with
// every sample (bench/report.h records the samples; its summary is the one the files carry).
//
//   ut::bench::Dist d = ut::bench::dist(samples_us);   // p50, p99, mean, min, max, n, and the values
//   json["wake"] = ut::bench::to_json(d, "us");
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <vector>

namespace ut::bench {

struct Dist {
  double p50 = 0, p99 = 0, mean = 0, min = 0, max = 0;
  std::size_t n = 0;
  std::vector<double> values;  // every sample, in the order measured
};

inline Dist dist(std::vector<double> v) {
  Dist d;
  if (v.empty()) return d;
  d.values = v;
  std::sort(v.begin(), v.end());
  d.n = v.size();
  d.p50 = v[v.size() / 2];
  d.p99 = v[std::min(v.size() - 1, v.size() * 99 / 100)];
  d.min = v.front();
  d.max = v.back();
  double s = 0;
  for (double x : v) s += x;
  d.mean = s / static_cast<double>(v.size());
  return d;
}

inline nlohmann::json to_json(const Dist& d, const char* unit = "us") {
  return {{"p50", d.p50}, {"p99", d.p99}, {"mean", d.mean}, {"min", d.min},
          {"max", d.max}, {"n", d.n},     {"unit", unit},   {"values", d.values}};
}

}  // namespace ut::bench
