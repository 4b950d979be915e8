// `ut bench slow-clients`: a normal streamed chat's time to first token on an idle server, then with K slow
// connections open (half connect and send nothing, half send a POST's headers and part of its body and stall),
// against any OpenAI-compatible server. Measures what issue #20 asks of `ut serve`: slow clients must not delay
// a normal request. Start the server with deadlines longer than the run (`ut serve --header-timeout 600
// --body-timeout 600`) and --max-connections above K, so that the slow connections stay open throughout; the
// report says how many were still open at the end.
//
//   ut::bench::SlowClientsOptions o{.chat_url = "http://127.0.0.1:8080", .slow = 1000, .reps = 7};
//   int rc = ut::bench::run_slow_clients_bench(o);   // prints both medians; saves o.json_path
#pragma once

#include <string>

namespace ut::bench {

struct SlowClientsOptions {
  std::string chat_url = "http://127.0.0.1:8080";
  std::string chat_model;     // empty: the field is left out
  std::string token;
  int slow = 1000;            // slow connections (fewer when the open-file limit does not allow them)
  int reps = 7;               // chats per phase (after one warm-up chat); medians over them
  int max_tokens = 16;
  double timeout_s = 120;
  std::string json_path = "ut-bench-slow-clients.json";
};

int run_slow_clients_bench(const SlowClientsOptions& o);

}  // namespace ut::bench
