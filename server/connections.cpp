// The reactor and workers of HttpServer (server/connections.h says why and what).
#include "server/connections.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/connection_io.h"
#include "server/metrics.h"

namespace ut::server {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kLinger = std::chrono::seconds(2);  // after an error reply: drain the client's bytes, then close

const char* reason_phrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

bool valid_request_id(const std::string& v) {
  if (v.empty() || v.size() > 128) return false;
  return std::all_of(v.begin(), v.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' || c == '-';
  });
}

}  // namespace

std::string new_request_id() {
  static const uint64_t seed = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  static std::atomic<uint64_t> n{0};
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * ++n;  // splitmix64: distinct ids, unpredictable across runs
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  char buf[24];
  std::snprintf(buf, sizeof buf, "req-%016llx", static_cast<unsigned long long>(z));
  return buf;
}

std::string request_id_for(const std::string& client_value) {
  return valid_request_id(client_value) ? client_value : new_request_id();
}

class HttpServer::Reactor {
 public:
  Reactor(HttpServer& owner) : owner_(owner), limits_(owner.limits_), counters_(owner.counters_) {
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event ev{.events = EPOLLIN, .data = {.fd = wake_}};
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, wake_, &ev);
    thread_ = std::thread([this] { loop(); });
    for (std::size_t i = 0; i < std::max<std::size_t>(limits_.workers, 1); ++i)
      workers_.emplace_back([this] { work(); });
  }
  ~Reactor() {
    stop();
    ::close(wake_);
    ::close(ep_);
  }

  // On the accept thread: the cap is decided here, in accept order.
  void adopt(int fd) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    ++counters_.accepted;
    bool reject = false;
    {
      std::lock_guard lock(open_mutex_);  // wait_open() sees every change
      reject = counters_.open.load() >= static_cast<int64_t>(limits_.max_connections);
      if (reject) ++counters_.rejected_capacity;
      else ++counters_.open;
    }
    open_cv_.notify_all();
    {
      std::lock_guard lock(inbox_mutex_);
      adopted_.push_back({fd, reject});
    }
    wake();
  }

  void stop() {
    {
      std::lock_guard lock(inbox_mutex_);
      if (stopped_) return;
      stopped_ = stopping_ = true;
    }
    wake();
    if (thread_.joinable()) thread_.join();
    for (auto& [fd, c] : conns_) ::shutdown(fd, SHUT_RDWR);  // answers in progress fail their next write
    {
      std::lock_guard lock(work_mutex_);
      workers_stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : workers_) t.join();
    for (auto& [fd, c] : conns_) ::close(fd);
    for (auto& a : adopted_) ::close(a.fd);
    conns_.clear();
    counters_.open = 0;
    counters_.waiting = 0;
    open_cv_.notify_all();
  }

  bool wait_open(const std::function<bool(int64_t)>& pred, std::chrono::milliseconds timeout) {
    std::unique_lock lock(open_mutex_);
    return open_cv_.wait_for(lock, timeout, [&] { return pred(counters_.open.load()); });
  }

 private:
  enum class Phase { fresh, idle, headers, body, queued, serving, closing };
  struct Conn {
    int fd = -1;
    bool counted = true;  // in counters_.open (a rejected connection is not)
    Phase phase = Phase::fresh;
    std::string in;
    std::optional<Clock::time_point> deadline;
    Framing f;
    std::size_t served = 0;
  };
  struct Adopted {
    int fd;
    bool reject;
  };
  struct Handback {
    Conn* conn;
    bool keep;
  };

  void wake() {
    const uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(wake_, &one, sizeof one);
  }

  void set_deadline(Conn& c, std::optional<Clock::time_point> at) {
    if (c.deadline) timers_.erase({*c.deadline, c.fd});
    c.deadline = at;
    if (at) timers_.insert({*at, c.fd});
  }

  void watch(Conn& c, int op) {
    epoll_event ev{.events = EPOLLIN | EPOLLRDHUP, .data = {.fd = c.fd}};
    ::epoll_ctl(ep_, op, c.fd, &ev);
  }

  void loop() {
    std::array<epoll_event, 256> events;
    while (!stopping_) {
      int timeout = -1;
      if (!timers_.empty()) {
        const auto wait = std::chrono::ceil<std::chrono::milliseconds>(timers_.begin()->first - Clock::now());
        timeout = static_cast<int>(std::clamp<int64_t>(wait.count(), 0, 60'000));
      }
      const int n = ::epoll_wait(ep_, events.data(), static_cast<int>(events.size()), timeout);
      for (int i = 0; i < n; ++i) {
        if (events[i].data.fd == wake_) {
          uint64_t v;
          [[maybe_unused]] auto r = ::read(wake_, &v, sizeof v);
          take_inbox();
        } else if (auto it = conns_.find(events[i].data.fd); it != conns_.end()) {
          on_readable(*it->second);
        }
      }
      expire(Clock::now());
    }
  }

  void take_inbox() {
    std::vector<Adopted> adopted;
    std::vector<Handback> back;
    {
      std::lock_guard lock(inbox_mutex_);
      adopted.swap(adopted_);
      back.swap(handbacks_);
    }
    for (auto a : adopted) {
      auto c = std::make_unique<Conn>();
      c->fd = a.fd;
      c->counted = !a.reject;
      Conn& conn = *conns_.emplace(a.fd, std::move(c)).first->second;
      watch(conn, EPOLL_CTL_ADD);
      if (a.reject) {
        reply_and_close(conn, {503, "the server is at its connection limit (" + std::to_string(limits_.max_connections) +
                                        " open); retry shortly"});
        // A flood of rejected connections must not hold descriptors for the linger time: past as many as the
        // limit, they are closed right after the reply.
        if (++lingering_rejects_ > limits_.max_connections) close_conn(conn);
      } else {
        set_deadline(conn, Clock::now() + limits_.header_timeout);
      }
    }
    for (auto h : back) {
      if (!h.keep) {
        close_conn(*h.conn);
        continue;
      }
      Conn& c = *h.conn;
      if (c.in.empty() && c.in.capacity() > (64u << 10)) std::string().swap(c.in);  // idle: no large buffer kept
      c.phase = Phase::idle;
      c.f = {};
      watch(c, EPOLL_CTL_ADD);
      set_deadline(c, Clock::now() + limits_.idle_timeout);
      if (!c.in.empty()) start_request(c);  // pipelined
    }
  }

  void start_request(Conn& c) {
    c.phase = Phase::headers;
    set_deadline(c, Clock::now() + limits_.header_timeout);
    advance(c);
  }

  void on_readable(Conn& c) {
    char buf[16384];
    bool eof = false;
    for (;;) {
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        if (c.phase != Phase::closing) c.in.append(buf, static_cast<std::size_t>(n));
        if (c.in.size() > limits_.max_header_bytes + limits_.max_body_bytes + (64 << 10)) break;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      eof = true;  // end of input, or an error
      break;
    }
    if (c.phase == Phase::closing) {
      if (eof) close_conn(c);
      return;
    }
    if (!c.in.empty() && (c.phase == Phase::fresh || c.phase == Phase::idle)) start_request(c);
    else if (c.phase == Phase::headers || c.phase == Phase::body) advance(c);
    if (eof && c.phase != Phase::queued && c.phase != Phase::closing) close_conn(c);
  }

  void advance(Conn& c) {
    Reply err;
    if (c.phase == Phase::headers) {
      bool expect_continue = false;
      const Frame f = frame_headers(c.in, c.f, limits_, err, expect_continue);
      if (f == Frame::more) return;
      if (f == Frame::error) return ++counters_.malformed, reply_and_close(c, err);
      c.phase = Phase::body;
      set_deadline(c, Clock::now() + limits_.body_timeout);
      if (expect_continue && (c.f.chunked || c.in.size() < c.f.body_end)) {
        static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        [[maybe_unused]] auto r = ::send(c.fd, kContinue, sizeof kContinue - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      }
    }
    if (c.phase != Phase::body) return;
    const Frame f = c.f.chunked ? frame_chunks(c.in, c.f, limits_, err) : c.in.size() >= c.f.body_end ? Frame::complete : Frame::more;
    if (f == Frame::more) return;
    if (f == Frame::error) return ++counters_.malformed, reply_and_close(c, err);
    ::epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    set_deadline(c, std::nullopt);
    c.phase = Phase::queued;
    ++counters_.waiting;
    {
      std::lock_guard lock(work_mutex_);
      work_.push_back(&c);
    }
    work_cv_.notify_one();
  }

  void expire(Clock::time_point now) {
    while (!timers_.empty() && timers_.begin()->first <= now) {
      auto it = conns_.find(timers_.begin()->second);
      if (it == conns_.end()) {
        timers_.erase(timers_.begin());
        continue;
      }
      Conn& c = *it->second;
      const auto seconds = [](std::chrono::milliseconds ms) { return std::to_string(ms.count() / 1000.0).substr(0, 5); };
      switch (c.phase) {
        case Phase::headers:
          ++counters_.header_timeouts;
          reply_and_close(c, {408, "the request headers did not arrive within " + seconds(limits_.header_timeout) + " s"});
          break;
        case Phase::body:
          ++counters_.body_timeouts;
          reply_and_close(c, {408, "the request body did not arrive within " + seconds(limits_.body_timeout) + " s"});
          break;
        case Phase::fresh: ++counters_.header_timeouts; close_conn(c); break;  // sent nothing: nothing to answer
        case Phase::idle: ++counters_.idle_timeouts; close_conn(c); break;
        default: close_conn(c); break;
      }
    }
  }

  void reply_and_close(Conn& c, const Reply& r);

  void close_conn(Conn& c) {
    if (!c.counted) --lingering_rejects_;
    set_deadline(c, std::nullopt);
    ::epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    if (c.counted) {
      std::lock_guard lock(open_mutex_);
      --counters_.open;
    }
    open_cv_.notify_all();
    const int fd = c.fd;
    conns_.erase(fd);  // c is gone
  }

  void work() {
    for (;;) {
      Conn* c = nullptr;
      {
        std::unique_lock lock(work_mutex_);
        work_cv_.wait(lock, [&] { return workers_stop_ || !work_.empty(); });
        if (workers_stop_) return;
        c = work_.front();
        work_.pop_front();
      }
      --counters_.waiting;
      ++counters_.serving;
      c->phase = Phase::serving;
      const bool keep = serve(*c);
      --counters_.serving;
      {
        std::lock_guard lock(inbox_mutex_);
        handbacks_.push_back({c, keep});
      }
      wake();
    }
  }

  bool serve(Conn& c) {
    ConnStream stream(c.fd, c.in, limits_);
    const bool last = ++c.served >= limits_.max_requests_per_connection || stopping_;
    bool closed = false, ok = false;
    try {
      ok = owner_.process_request(stream, last, closed, [](httplib::Request& req) {
        const std::string id = request_id_for(req.get_header_value("X-Request-Id"));
        req.headers.erase("X-Request-Id");
        req.headers.emplace("X-Request-Id", id);
      });
    } catch (...) {
      ok = false;  // the library's own failure: the connection cannot be trusted further
    }
    stream.consume();
    return ok && !closed && !last && !stopping_;
  }

  HttpServer& owner_;
  const ConnectionLimits& limits_;
  ConnectionCounters& counters_;
  int ep_ = -1, wake_ = -1;
  std::thread thread_;
  std::vector<std::thread> workers_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
  // The reactor thread's own.
  std::unordered_map<int, std::unique_ptr<Conn>> conns_;
  std::set<std::pair<Clock::time_point, int>> timers_;
  std::size_t lingering_rejects_ = 0;
  Clock::time_point last_log_{};
  uint64_t unlogged_ = 0;
  // From the accept thread and the workers.
  std::mutex inbox_mutex_;
  std::vector<Adopted> adopted_;
  std::vector<Handback> handbacks_;
  // Complete requests for the workers.
  std::mutex work_mutex_;
  std::condition_variable work_cv_;
  std::deque<Conn*> work_;
  bool workers_stop_ = false;
  std::mutex open_mutex_;
  std::condition_variable open_cv_;
};

// An error answered by the reactor itself, then a lingering close: the reply goes out with a FIN and the client's
// unread bytes are drained, so its kernel does not turn the close into a reset that loses the reply.
void HttpServer::Reactor::reply_and_close(Conn& c, const Reply& r) {
  const std::string id = new_request_id();
  nlohmann::json error{{"message", r.message},
                       {"type", r.status == 503 ? "server_error" : r.status == 408 ? "timeout" : "invalid_request_error"},
                       {"code", r.status == 503 ? nlohmann::json("connection_limit")
                                : r.status == 408 ? nlohmann::json("request_timeout") : nlohmann::json(nullptr)},
                       {"param", nullptr}};
  if (r.status >= 500) error["request_id"] = id;
  const std::string body = nlohmann::json{{"error", error}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " + reason_phrase(r.status) +
                     "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\nConnection: close\r\nX-Request-Id: " + id + "\r\n";
  if (r.status == 503) head += "Retry-After: 1\r\n";
  const std::string reply = head + "\r\n" + body;
  [[maybe_unused]] auto n = ::send(c.fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (r.status >= 500) {  // at most a line a second while the limit is hit, with the count of those not logged
    const auto now = Clock::now();
    if (now - last_log_ >= std::chrono::seconds(1)) {
      log_server_error(r.status, "-", "-", id,
                       r.message + (unlogged_ ? " (" + std::to_string(unlogged_) + " more since the last line)" : ""));
      last_log_ = now;
      unlogged_ = 0;
    } else {
      ++unlogged_;
    }
  }
  ::shutdown(c.fd, SHUT_WR);
  c.phase = Phase::closing;
  c.in.clear();
  set_deadline(c, Clock::now() + kLinger);
}

HttpServer::HttpServer(ConnectionLimits limits) : limits_(limits) {
  // The library's accept loop hands each socket on at once (process_and_close_socket below): no pool of its own.
  struct Inline final : httplib::TaskQueue {
    void enqueue(std::function<void()> fn) override { fn(); }
    void shutdown() override {}
  };
  new_task_queue = [] { return new Inline; };
  set_payload_max_length(limits_.max_body_bytes);
  set_keep_alive_max_count(std::max<std::size_t>(limits_.max_requests_per_connection, 1));
  // Only what the Keep-Alive header tells clients (whole seconds); the reactor keeps the real deadline.
  set_keep_alive_timeout(std::max<time_t>(1, static_cast<time_t>((limits_.idle_timeout.count() + 999) / 1000)));
  reactor_ = std::make_unique<Reactor>(*this);
}

HttpServer::~HttpServer() { close_connections(); }

void HttpServer::close_connections() {
  if (reactor_) reactor_->stop();
}

void HttpServer::widen_backlog(int n) {
  if (svr_sock_ != INVALID_SOCKET) ::listen(svr_sock_, n);
}

bool HttpServer::wait_open(const std::function<bool(int64_t)>& pred, std::chrono::milliseconds timeout) {
  return reactor_->wait_open(pred, timeout);
}

Metrics* metrics_of(httplib::Server& http) {
  auto* h = dynamic_cast<HttpServer*>(&http);
  return h ? &h->metrics() : nullptr;
}

bool HttpServer::process_and_close_socket(socket_t sock) {
  reactor_->adopt(sock);
  return true;
}

}  // namespace ut::server
