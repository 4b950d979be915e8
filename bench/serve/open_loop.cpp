#include "bench/serve/open_loop.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <thread>

namespace ut::bench::serve {

double OpenLoopPhase::achieved_rate() const {
  if (sent_s.size() < 2) return 0;
  const auto [lo, hi] = std::minmax_element(sent_s.begin(), sent_s.end());
  return *hi > *lo ? static_cast<double>(sent_s.size() - 1) / (*hi - *lo) : 0;
}

double OpenLoopPhase::max_send_lag_ms() const {
  double lag = 0;
  for (std::size_t i = 0; i < sent_s.size() && i < offsets_s.size(); ++i) lag = std::max(lag, sent_s[i] - offsets_s[i]);
  return lag * 1000.0;
}

std::vector<double> OpenLoopPhase::ttft_ms() const {
  std::vector<double> v;
  for (auto& c : chats)
    if (c.ok) v.push_back(c.ttft_ms);
  return v;
}

double OpenLoopPhase::ttft_p99_or_max() const {
  const auto v = ttft_ms();
  if (v.empty()) return std::nan("");
  return v.size() >= 200 ? percentile(v, 99) : *std::max_element(v.begin(), v.end());
}

std::string OpenLoopPhase::case_name() const {
  char b[64];
  std::snprintf(b, sizeof b, "open loop %g/s", rate);
  return b;
}

OpenLoopPhase open_loop_phase(const ServeBenchOptions& o, const std::string& model, double rate,
                              uint64_t& next_request) {
  OpenLoopPhase ph{.rate = rate};
  std::vector<std::string> prompts;
  for (int i = 0; i < o.chats; ++i) prompts.push_back(chat_prompt(o, next_request++));
  // The arrival times are fixed before the first request: how the server copes cannot change them.
  std::mt19937_64 rng(mix(o.seed, static_cast<uint64_t>(rate * 1000.0) + 0x5eedull));
  std::exponential_distribution<double> gap(rate);
  double t = 0;
  for (int i = 0; i < o.chats; ++i) {
    ph.offsets_s.push_back(t);
    t += gap(rng);
  }
  ph.chats.resize(prompts.size());
  ph.sent_s.resize(prompts.size());
  std::vector<std::thread> requests;
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    std::this_thread::sleep_until(t0 + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(ph.offsets_s[i])));
    requests.emplace_back([&, i] {
      ph.sent_s[i] = seconds_between(t0, Clock::now());
      remote::OpenAiClient client(o.chat_url, {.token = o.token, .timeout_s = o.timeout_s});
      ph.chats[i] = client.chat({.model = model, .prompt = prompts[i], .max_tokens = o.max_tokens,
                                 .ignore_eos = o.ignore_eos});
    });
  }
  for (auto& r : requests) r.join();
  ph.seconds = seconds_between(t0, Clock::now());
  for (auto& c : ph.chats)
    if (!c.ok) ph.failures.add("chat: " + c.error);
  return ph;
}

void print_open_loop_header() {
  std::printf("\n  %-18s %8s %8s %6s %10s %10s %14s %12s %10s\n", "open loop", "sent at", "lag max", "ok",
              "TTFT p50", "TTFT p99*", "inter-token p50", "latency p50", "tokens/s");
}

namespace {

// The answered requests' figures: per-request latency and mean inter-token gap, and the tokens streamed.
struct Answered {
  int ok = 0;
  double tokens = 0;
  std::vector<double> itl_ms, latency_ms;
  explicit Answered(const OpenLoopPhase& p) {
    for (auto& c : p.chats) {
      if (!c.ok) continue;
      ++ok;
      tokens += c.tokens;
      latency_ms.push_back(c.total_ms);
      if (c.decode_tps > 0) itl_ms.push_back(1000.0 / c.decode_tps);
    }
  }
};

}  // namespace

void print_open_loop_row(const OpenLoopPhase& p) {
  const Answered a(p);
  std::printf("  %-18s %6.2f/s %5.1f ms %3d/%-3zu %7.1f ms %7.1f ms %12.2f ms %9.1f ms %10.1f\n",
              p.case_name().c_str(), p.achieved_rate(), p.max_send_lag_ms(), a.ok, p.chats.size(),
              percentile(p.ttft_ms(), 50), p.ttft_p99_or_max(), percentile(a.itl_ms, 50), percentile(a.latency_ms, 50),
              p.seconds > 0 ? a.tokens / p.seconds : 0.0);
}

void add_open_loop(Report& r, const std::string& side, const OpenLoopPhase& p) {
  const std::string c = p.case_name();
  const Answered a(p);
  const int ok = a.ok;
  r.add(c, side, "ttft_ms", "ms", p.ttft_ms());
  r.add(c, side, "inter_token_ms", "ms", a.itl_ms);  // per request: its mean gap between streamed tokens
  r.add(c, side, "latency_ms", "ms", a.latency_ms);
  r.add(c, side, "generated_tokens_per_s", "tokens/s", p.seconds > 0 ? a.tokens / p.seconds : 0.0);
  r.add(c, side, "achieved_rate", "1/s", p.achieved_rate());
  r.add(c, side, "max_send_lag_ms", "ms", p.max_send_lag_ms());
  const auto v = p.ttft_ms();
  r.config()["phases"][c] = {{"rate", p.rate},
                             {"seconds", p.seconds},
                             {"requests_ok", ok},
                             {"requests_failed", static_cast<int>(p.chats.size()) - ok},
                             {"ttft_p99_or_max_ms", p.ttft_p99_or_max()},
                             {"ttft_statistic", v.size() >= 200 ? "p99" : "max (fewer than 200 samples)"},
                             {"failures", p.failures.to_json()}};
  for (auto& [m, n] : p.failures.items) r.add_note(c + ": " + std::to_string(n) + " x " + m);
}

}  // namespace ut::bench::serve

namespace ut::bench {

std::vector<double> parse_rates(const std::string& s) {
  std::vector<double> out;
  if (s.empty()) return out;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    const auto comma = std::min(s.find(',', pos), s.size());
    const std::string item = s.substr(pos, comma - pos);
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || !(v > 0) || v > 10000)
      throw std::invalid_argument("'" + s + "': expected request rates per second (0 < rate <= 10000) separated "
                                  "by commas, e.g. 0.5,1,2");
    out.push_back(v);
    pos = comma + 1;
  }
  return out;
}

}  // namespace ut::bench
