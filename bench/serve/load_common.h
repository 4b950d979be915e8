// Internal to `ut bench serve`: what its closed-loop and open-loop phases share -- seeded random prompts that no
// prompt cache can reuse, failures counted by message, nearest-rank percentiles.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bench/serve/serve_bench.h"

namespace ut::bench::serve {

using Clock = std::chrono::steady_clock;
inline double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// splitmix64 of a combination: independent streams from one --seed.
uint64_t mix(uint64_t a, uint64_t b);
// n seeded random words (a sentence break every 13).
std::string random_words(uint64_t seed, int n);
// The prompt of request number `request`: --prompt-words random words and an instruction to write at length.
std::string chat_prompt(const ServeBenchOptions& o, uint64_t request);

// Failures by message, in the order first seen, so that every distinct one is printed with its count.
struct Failures {
  std::vector<std::pair<std::string, int>> items;
  void add(const std::string& what);
  int total() const;
  nlohmann::json to_json() const;
};

// Nearest-rank percentile; NaN when there are no values.
double percentile(std::vector<double> v, double p);

}  // namespace ut::bench::serve
