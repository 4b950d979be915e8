// Internal to `ut bench serve`: open-loop load. Requests arrive as a Poisson process at a fixed rate (seeded
// exponential gaps), each on its own connection, whether or not earlier ones have finished -- the load a public
// server meets, where a closed loop of N clients would slow its own arrivals down as the server slows.
#pragma once

#include <string>
#include <vector>

#include "bench/report.h"
#include "bench/serve/load_common.h"
#include "workloads/remote/openai_client.h"

namespace ut::bench::serve {

struct OpenLoopPhase {
  double rate = 0;                       // requests per second asked for
  std::vector<double> offsets_s;         // planned arrival of each request after the phase's start
  std::vector<double> sent_s;            // when each request's thread actually began it
  std::vector<remote::ChatResult> chats;
  double seconds = 0;                    // first arrival -> last answer complete
  Failures failures;

  double achieved_rate() const;          // requests / (last send - first send), as sent
  double max_send_lag_ms() const;        // how late the client sent a request after its planned arrival
  std::vector<double> ttft_ms() const;   // successful requests
  // TTFT at the 99th percentile from >= 200 samples; below that the largest TTFT, an upper bound of it.
  double ttft_p99_or_max() const;
  std::string case_name() const;         // "open loop 4/s"
};

// --chats requests of --prompt-words random words at `rate` per second against o.chat_url.
OpenLoopPhase open_loop_phase(const ServeBenchOptions& o, const std::string& model, double rate,
                              uint64_t& next_request);
void print_open_loop_header();
void print_open_loop_row(const OpenLoopPhase& p);
// Samples (ttft_ms, inter_token_ms, latency_ms per request; generated tokens/s and achieved rate per phase) and
// the phase's counts into the report.
void add_open_loop(Report& r, const std::string& side, const OpenLoopPhase& p);

}  // namespace ut::bench::serve
