// Metrics: what the HTTP server counts for GET /metrics (Prometheus text), with vLLM's names as the anchor: a
// scraper or dashboard made for vLLM reads ours with the prefix "ut:" for "vllm:".
//
//   ut::server::Metrics m;
//   m.count_request("POST", "/v1/chat/completions", 200);
//   {
//     ut::server::Metrics::Chat chat(&m);   // waiting (ut:num_requests_waiting) until its first token
//     chat.token(); chat.token();           // running from the first; each interval is an inter-token latency
//     chat.finish(12, 2, 40.0, "length");   // prompt and generated tokens, the engine's own TTFT, the reason
//   }
//   std::string text = m.prometheus(nullptr);
//
// Chat metrics (histograms in seconds, vLLM's buckets): ut:time_to_first_token_seconds (arrival at the handler ->
// first token handed to the connection), ut:inter_token_latency_seconds (between consecutive tokens),
// ut:e2e_request_latency_seconds (arrival -> last token), ut:request_queue_time_seconds (arrival -> the chat
// began decoding: admission, retrieval, a free decode slot), counters ut:prompt_tokens_total,
// ut:generation_tokens_total, ut:request_success_total{finished_reason}, gauges ut:num_requests_running (chats
// producing tokens) and ut:num_requests_waiting (chats accepted that have no token yet).
// HTTP: ut_http_requests_total{method,route,status} (route: the registered path, "{id}" for parameters;
// "unmatched" for 404s of no route; "other" for handlers not registered through route()), and the connection
// counters of server/connections.h. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace httplib {
class Server;
}

namespace ut::server {

struct ConnectionCounters;

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v);
  void write(std::string& out, const char* name, const char* help) const;
  uint64_t count() const;

 private:
  mutable std::mutex mutex_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; the last is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();
  void count_request(const std::string& method, const std::string& route, int status);

  // One chat request, from its arrival at the handler. A null Metrics records nothing.
  class Chat {
   public:
    explicit Chat(Metrics* m);
    ~Chat();  // leaves the gauges whether or not finish() ran
    Chat(const Chat&) = delete;
    Chat& operator=(const Chat&) = delete;
    void token();  // a token handed to the connection (or, not streamed, taken from the answer as it was made)
    // Observes the chat's latencies and tokens, and leaves the gauges.
    void finish(int prompt_tokens, int generated_tokens, double engine_ttft_ms, const std::string& finish_reason);

   private:
    using Clock = std::chrono::steady_clock;
    void leave();
    Metrics* m_;
    Clock::time_point start_, first_, last_;
    bool got_token_ = false, finished_ = false, left_ = false;
  };

  std::string prometheus(const ConnectionCounters* connections) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;
  std::map<std::string, uint64_t> finished_;
  Histogram ttft_, itl_, e2e_, queue_;
  std::atomic<uint64_t> prompt_tokens_{0}, generation_tokens_{0};
  std::atomic<int64_t> running_{0}, waiting_{0};
};

// The HttpServer's metrics (server/connections.h); null for any other httplib::Server.
Metrics* metrics_of(httplib::Server& http);

// The route label of the request this thread answers: route() sets it, the server reads and clears it.
std::string& current_route();

// One line on stderr for a 5xx: time, status, method, path, request id, message.
void log_server_error(int status, const std::string& method, const std::string& path, const std::string& request_id,
                      const std::string& message);

}  // namespace ut::server
