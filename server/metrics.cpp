#include "server/metrics.h"

#include <cstdio>
#include <ctime>

#include "server/connections.h"

namespace ut::server {
namespace {

// vLLM's buckets (vllm/v1/metrics/loggers.py), so that dashboards built for it bin the same way.
std::vector<double> ttft_buckets() {
  return {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
          80.0, 160.0, 640.0, 2560.0};
}
std::vector<double> itl_buckets() {
  return {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};
}
std::vector<double> latency_buckets() {
  return {0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0,
          960.0, 1920.0, 7680.0};
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// A label value as Prometheus' text format escapes it.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void header(std::string& out, const char* name, const char* help, const char* type) {
  out += std::string("# HELP ") + name + ' ' + help + "\n# TYPE " + name + ' ' + type + '\n';
}

template <class T>
void single(std::string& out, const char* name, const char* help, const char* type, T value) {
  header(out, name, help, type);
  out += std::string(name) + ' ' + std::to_string(value) + '\n';
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  std::lock_guard lock(mutex_);
  ++counts_[i];
  sum_ += v;
  ++count_;
}

uint64_t Histogram::count() const {
  std::lock_guard lock(mutex_);
  return count_;
}

void Histogram::write(std::string& out, const char* name, const char* help) const {
  std::lock_guard lock(mutex_);
  header(out, name, help, "histogram");
  uint64_t cumulative = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    cumulative += counts_[i];
    out += std::string(name) + "_bucket{le=\"" + (i < bounds_.size() ? num(bounds_[i]) : "+Inf") + "\"} " +
           std::to_string(cumulative) + '\n';
  }
  out += std::string(name) + "_sum " + num(sum_) + '\n';
  out += std::string(name) + "_count " + std::to_string(count_) + '\n';
}

Metrics::Metrics() : ttft_(ttft_buckets()), itl_(itl_buckets()), e2e_(latency_buckets()), queue_(latency_buckets()) {}

void Metrics::count_request(const std::string& method, const std::string& route, int status) {
  std::lock_guard lock(mutex_);
  ++requests_[{method, route, status}];
}

Metrics::Chat::Chat(Metrics* m) : m_(m), start_(Clock::now()) {
  if (m_) ++m_->waiting_;
}

Metrics::Chat::~Chat() { leave(); }

void Metrics::Chat::leave() {
  if (!m_ || left_) return;
  left_ = true;
  if (got_token_) --m_->running_;
  else --m_->waiting_;
}

void Metrics::Chat::token() {
  if (!m_ || left_) return;
  const auto now = Clock::now();
  if (!got_token_) {
    got_token_ = true;
    first_ = now;
    --m_->waiting_;
    ++m_->running_;
    m_->ttft_.observe(std::chrono::duration<double>(now - start_).count());
  } else {
    m_->itl_.observe(std::chrono::duration<double>(now - last_).count());
  }
  last_ = now;
}

void Metrics::Chat::finish(int prompt_tokens, int generated_tokens, double engine_ttft_ms,
                           const std::string& finish_reason) {
  if (!m_ || finished_) return;
  finished_ = true;
  const auto now = Clock::now();
  m_->e2e_.observe(std::chrono::duration<double>(now - start_).count());
  if (got_token_) {
    // Arrival -> the chat began decoding: what the server saw before the first token, less the engine's own
    // time from the chat's start in a decode slot to that token.
    const double before_first = std::chrono::duration<double>(first_ - start_).count();
    m_->queue_.observe(std::max(0.0, before_first - engine_ttft_ms / 1000.0));
  }
  m_->prompt_tokens_ += static_cast<uint64_t>(std::max(0, prompt_tokens));
  m_->generation_tokens_ += static_cast<uint64_t>(std::max(0, generated_tokens));
  {
    std::lock_guard lock(m_->mutex_);
    ++m_->finished_[finish_reason];
  }
  leave();  // before the last bytes go out: a client that has its answer sees the gauges without it
}

std::string Metrics::prometheus(const ConnectionCounters* c) const {
  std::string out;
  {
    std::lock_guard lock(mutex_);
    header(out, "ut_http_requests_total", "HTTP requests answered, by method, route and status", "counter");
    for (const auto& [key, n] : requests_) {
      const auto& [method, route, status] = key;
      out += "ut_http_requests_total{method=\"" + label(method) + "\",route=\"" + label(route) + "\",status=\"" +
             std::to_string(status) + "\"} " + std::to_string(n) + '\n';
    }
    header(out, "ut:request_success_total", "Chat requests finished, by finish reason", "counter");
    for (const auto& [reason, n] : finished_)
      out += "ut:request_success_total{finished_reason=\"" + label(reason) + "\"} " + std::to_string(n) + '\n';
  }
  single(out, "ut:num_requests_running", "Chat requests producing tokens", "gauge", running_.load());
  single(out, "ut:num_requests_waiting", "Chat requests accepted that have no token yet", "gauge", waiting_.load());
  single(out, "ut:prompt_tokens_total", "Prompt tokens of finished chat requests", "counter", prompt_tokens_.load());
  single(out, "ut:generation_tokens_total", "Tokens generated for finished chat requests", "counter",
         generation_tokens_.load());
  ttft_.write(out, "ut:time_to_first_token_seconds", "Arrival of a chat request to its first token");
  itl_.write(out, "ut:inter_token_latency_seconds", "Time between consecutive tokens of a chat");
  e2e_.write(out, "ut:e2e_request_latency_seconds", "Arrival of a chat request to its last token");
  queue_.write(out, "ut:request_queue_time_seconds", "Arrival of a chat request to the start of its decoding");
  if (!c) return out;
  single(out, "ut_http_connections_open", "Client connections open (reading, waiting, answered or idle)", "gauge",
         c->open.load());
  single(out, "ut_http_requests_waiting", "Complete requests waiting for a worker thread", "gauge", c->waiting.load());
  single(out, "ut_http_requests_serving", "Requests a worker thread is answering", "gauge", c->serving.load());
  single(out, "ut_http_connections_accepted_total", "Client connections accepted", "counter", c->accepted.load());
  single(out, "ut_http_connections_rejected_total", "Connections answered 503 at the connection limit", "counter",
         c->rejected_capacity.load());
  header(out, "ut_http_timeouts_total", "Connections closed at a deadline, by phase", "counter");
  out += "ut_http_timeouts_total{phase=\"header\"} " + std::to_string(c->header_timeouts.load()) + '\n';
  out += "ut_http_timeouts_total{phase=\"body\"} " + std::to_string(c->body_timeouts.load()) + '\n';
  out += "ut_http_timeouts_total{phase=\"idle\"} " + std::to_string(c->idle_timeouts.load()) + '\n';
  single(out, "ut_http_malformed_total", "Requests refused for their framing (400, 413, 431) before any handler",
         "counter", c->malformed.load());
  return out;
}

std::string& current_route() {
  thread_local std::string route;
  return route;
}

void log_server_error(int status, const std::string& method, const std::string& path, const std::string& request_id,
                      const std::string& message) {
  char when[32];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::fprintf(stderr, "%s ut-server %d %s %s request_id=%s: %s\n", when, status, method.c_str(), path.c_str(),
               request_id.c_str(), message.c_str());
}

}  // namespace ut::server
