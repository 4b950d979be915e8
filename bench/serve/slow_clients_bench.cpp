#include "bench/serve/slow_clients_bench.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include "bench/report.h"
#include "workloads/remote/openai_client.h"
#include "timeline/host.h"

namespace ut::bench {

using remote::ChatParams;
using remote::ChatResult;
using remote::ModelList;
using remote::OpenAiClient;
using remote::OpenAiClientOptions;
namespace {

// host and port of "http://host[:port][/...]".
std::pair<std::string, std::string> host_port(const std::string& url) {
  std::string rest = url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
  rest = rest.substr(0, rest.find('/'));
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos) return {rest, "80"};
  return {rest.substr(0, colon), rest.substr(colon + 1)};
}

int connect_to(const std::string& host, const std::string& port) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res) return -1;
  int fd = ::socket(res->ai_family, SOCK_STREAM, 0);
  if (fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(res);
  return fd;
}

// How many slow connections this process may open: the soft open-file limit raised to the hard one, less room
// for the chat client and the runtime.
int fd_budget(int wanted) {
  const std::size_t limit = raise_open_file_limit();
  if (limit == 0) return wanted;
  return std::min<int>(wanted, static_cast<int>(limit) - 64);
}

// One streamed chat's TTFT; NaN when it failed (counted).
double ttft(OpenAiClient& c, const SlowClientsOptions& o, int i, const char* phase, int& failed) {
  auto r = c.chat({.model = o.chat_model, .prompt = "Say something about queues, number " + std::to_string(i),
                   .max_tokens = o.max_tokens});
  if (r.ok) return r.ttft_ms;
  ++failed;
  std::fprintf(stderr, "ut bench slow-clients: %s chat failed: %s\n", phase, r.error.c_str());
  return std::nan("");
}

struct SlowSet {
  std::vector<int> fds;
  int still_open = 0;  // at close: neither answered nor closed by the server
  void open(const std::string& host, const std::string& port, int n, const std::string& partial) {
    for (int i = 0; i < n; ++i) {
      const int fd = connect_to(host, port);
      if (fd < 0) break;
      if (i % 2) (void)::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL);
      fds.push_back(fd);
    }
  }
  void close() {
    for (int fd : fds) {
      pollfd p{fd, POLLIN | POLLRDHUP, 0};
      still_open += ::poll(&p, 1, 0) == 0;
      ::close(fd);
    }
    fds.clear();
  }
};

double median(std::vector<double> v) {
  std::erase_if(v, [](double x) { return !std::isfinite(x); });  // failed chats
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int run_slow_clients_bench(const SlowClientsOptions& o) {
  const auto [host, port] = host_port(o.chat_url);
  const int slow = fd_budget(o.slow);
  OpenAiClient client(o.chat_url, {.token = o.token, .timeout_s = o.timeout_s});
  int failed = 0;
  const std::string partial = "POST /v1/chat/completions HTTP/1.1\r\nHost: " + host +
                              "\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{\"messages\":";
  // Rounds of (open the slow connections, a chat, close them, a chat): idle and loaded alternate, so that drift
  // in the machine's load (other processes) falls on both alike. The first round is a warm-up.
  std::vector<double> idle, loaded;
  SlowSet set;
  std::size_t opened = 0;
  int total_opened = 0;
  for (int i = 0; i <= o.reps; ++i) {
    set.open(host, port, slow, partial);
    opened = set.fds.size();
    total_opened += static_cast<int>(opened);
    const double l = ttft(client, o, 2 * i, "slow", failed);
    set.close();
    const double a = ttft(client, o, 2 * i + 1, "idle", failed);
    if (i == 0) continue;
    loaded.push_back(l);
    idle.push_back(a);
  }
  const int still_open = set.still_open;
  const std::string loaded_case = "slow=" + std::to_string(opened);
  Report r("slow-clients");
  r.config() = {{"chat_url", o.chat_url}, {"slow_requested", o.slow}, {"slow_per_round", opened},
                {"slow_opened_in_all", total_opened}, {"slow_still_open_when_closed", still_open},
                {"reps", o.reps}, {"max_tokens", o.max_tokens}, {"failed_chats", failed}};
  r.add("idle", "ours", "ttft_ms", "ms", idle);
  r.add(loaded_case, "ours", "ttft_ms", "ms", loaded);
  const double mi = median(idle), ml = median(loaded);
  r.add_goal({.kpi = "time to first token with slow connections open", .goal = "<= 2x idle",
              .case_name = loaded_case, .metric = "ttft_ms", .value = ml, .met = mi > 0 && ml <= 2 * mi,
              .detail = "idle median " + std::to_string(mi) + " ms"});
  r.add_note("half the slow connections send nothing; half send a POST's headers and 12 bytes of a 4096-byte body");
  if (still_open < total_opened)
    r.add_note(std::to_string(total_opened - still_open) + " slow connections were closed by the server early");
  r.add_note("rounds alternate: open the slow connections, one chat, close them, one chat; the first round is a warm-up");
  r.write(o.json_path);
  std::printf("ut bench slow-clients: %s\n  idle: TTFT median %.1f ms (n=%zu)\n  %zu slow connections open "
              "(%d of %d still open when closed): TTFT median %.1f ms (n=%zu), %.2fx idle\n  saved %s\n",
              o.chat_url.c_str(), mi, idle.size(), opened, still_open, total_opened, ml, loaded.size(),
              mi > 0 ? ml / mi : 0.0, o.json_path.c_str());
  return median(idle) > 0 && median(loaded) > 0 ? 0 : 1;
}

}  // namespace ut::bench
