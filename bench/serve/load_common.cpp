#include "bench/serve/load_common.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace ut::bench::serve {

uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E5B9ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Random words, so that no two prompts share more than the chat template: servers that cache prompt prefixes
// (llama-server does) get no free work.
std::string random_words(uint64_t seed, int n) {
  static const char* kWords[] = {
      "river", "engine", "quiet", "market", "signal", "window", "garden", "paper", "orbit", "table", "silver",
      "number", "forest", "bridge", "coffee", "planet", "memory", "station", "letter", "winter", "sudden", "green",
      "travel", "kernel", "island", "motion", "doctor", "harbor", "yellow", "frame", "circle", "answer", "pocket",
      "ladder", "summer", "copper", "voice", "shadow", "system", "animal", "stone", "report", "music", "crystal",
      "narrow", "packet", "season", "battery", "simple", "camera", "thunder", "wooden", "mirror", "vector", "beacon",
      "people", "morning", "canvas", "rocket", "little", "history", "butter", "language", "cable", "village",
      "careful", "queue", "theory", "marble", "ocean", "native", "button", "distant", "garage", "lemon", "rapid",
      "screen", "honest", "velvet", "signal", "meadow", "bottle", "ancient", "filter", "desert", "planner", "tunnel",
      "gentle", "compass", "symbol", "cotton", "buffer", "harvest", "mountain", "violet", "puzzle", "office", "stream",
      "token", "lantern", "figure", "kitchen", "oxygen", "museum", "thread", "weather", "journey", "pattern",
      "blanket", "silent", "index", "captain", "eleven", "bright", "charge", "sketch", "module", "fabric", "glacier"};
  constexpr std::size_t kCount = sizeof(kWords) / sizeof(kWords[0]);
  std::mt19937_64 rng(seed);
  std::string s;
  for (int i = 0; i < n; ++i) {
    s += kWords[rng() % kCount];
    s += (i % 13 == 12) ? ". " : " ";
  }
  return s;
}

std::string chat_prompt(const ServeBenchOptions& o, uint64_t request) {
  return random_words(mix(o.seed, request), o.prompt_words) + "\n\nWrite a long story that uses the words above.";
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}


void Failures::add(const std::string& what) {
  for (auto& [m, n] : items)
    if (m == what) {
      ++n;
      return;
    }
  items.push_back({what, 1});
}

int Failures::total() const {
  int n = 0;
  for (auto& [m, c] : items) n += c;
  return n;
}

nlohmann::json Failures::to_json() const {
  nlohmann::json a = nlohmann::json::array();
  for (auto& [m, n] : items) a.push_back({{"message", m}, {"count", n}});
  return a;
}

}  // namespace ut::bench::serve
