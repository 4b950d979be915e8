// `ut bench serve`: one load client for any OpenAI-compatible server, so that `ut serve` and llama.cpp's
// llama-server are measured the same way on the same machine.
//   ut bench serve --label "ut serve" --chat-url http://127.0.0.1:8080 --json ut.json
//   ut bench serve --label llama-server --chat-url http://127.0.0.1:8081 --embed-url http://127.0.0.1:8082 --json peer.json
// Phases: embeddings alone (the embeddings/s baseline); then for each --concurrency value, the chats alone and
// the same number of chats while --embed-clients clients send embedding requests back to back. Chats stream
// (SSE) and are timed per chunk: TTFT, decode tokens/s, total latency; every failure is counted and shown.
#include "bench/serve/serve_bench.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "bench/report.h"
#include "bench/serve/load_common.h"
#include "bench/serve/open_loop.h"
#include "workloads/remote/openai_client.h"
#include "timeline/error.h"
#include "timeline/host.h"

namespace ut::bench {

using remote::ChatParams;
using remote::ChatResult;
using remote::ModelList;
using remote::OpenAiClient;
using remote::OpenAiClientOptions;
namespace {

using json = nlohmann::json;
using serve::chat_prompt;
using serve::Clock;
using serve::Failures;
using serve::mix;
using serve::percentile;
using serve::random_words;
using serve::seconds_between;

// Embedding clients sending requests back to back until stop(). Each request is recorded with its start and end,
// so that a phase can count the vectors embedded inside its window.
class EmbedLoad {
 public:
  struct Done {
    Clock::time_point start, end;
    bool ok;
    std::size_t vectors;
    double ms;
    std::string error;
  };

  EmbedLoad(const ServeBenchOptions& o, const std::string& model, uint64_t salt) {
    for (int c = 0; c < o.embed_clients; ++c) {
      threads_.emplace_back([this, &o, model, salt, c] {
        OpenAiClient client(o.embed_url, {.token = o.token, .timeout_s = o.timeout_s});
        std::mt19937_64 rng(mix(mix(o.seed, salt), static_cast<uint64_t>(c) + 1000));
        while (!stop_) {
          std::vector<std::string> texts;
          for (int i = 0; i < o.embed_batch; ++i) texts.push_back(random_words(rng(), 24 + static_cast<int>(rng() % 25)));
          const auto start = Clock::now();
          auto r = client.embed(model, texts);
          const Done d{start, Clock::now(), r.ok, r.vectors, r.ms, r.error};
          {
            std::lock_guard lock(mutex_);
            done_.push_back(d);
          }
          // A refused connection fails in microseconds: pace the retries instead of spinning.
          if (!r.ok) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      });
    }
  }
  ~EmbedLoad() { stop(); }
  // Waits for the requests in flight: the next phase must not overlap this one.
  std::vector<Done> stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    std::lock_guard lock(mutex_);
    return done_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<Done> done_;
  std::vector<std::thread> threads_;
};

struct Phase {
  std::string name;        // "embeddings alone", "chats alone", "chats + embeddings"
  int concurrency = 0;     // 0: no chats
  std::vector<ChatResult> chats;
  double seconds = 0;      // chats: first request sent -> last answer complete; embeddings alone: the window
  int embed_ok = 0, embed_failed = 0;
  double embeddings = 0;   // vectors embedded inside the window (see count_embeddings)
  int64_t embeddings_done = 0;  // vectors of all successful requests of the load, warm-up and edges included
  std::vector<double> embed_ms;
  Failures failures;

  int chats_ok() const {
    return static_cast<int>(std::count_if(chats.begin(), chats.end(), [](auto& c) { return c.ok; }));
  }
  std::vector<double> values(double ChatResult::*field, bool positive_only = false) const {
    std::vector<double> v;
    for (auto& c : chats)
      if (c.ok && (!positive_only || c.*field > 0)) v.push_back(c.*field);
    return v;
  }
  int64_t tokens() const {
    int64_t n = 0;
    for (auto& c : chats) n += c.tokens;
    return n;
  }
  double tokens_per_s() const { return seconds > 0 ? static_cast<double>(tokens()) / seconds : 0; }
  double embeddings_per_s() const { return seconds > 0 ? embeddings / seconds : 0; }

  void count_embeddings(const std::vector<EmbedLoad::Done>& done, Clock::time_point w0, Clock::time_point w1) {
    for (auto& d : done) {
      if (!d.ok) {
        ++embed_failed;
        failures.add("embeddings: " + d.error);
        continue;
      }
      ++embed_ok;
      embed_ms.push_back(d.ms);
      embeddings_done += static_cast<int64_t>(d.vectors);
      // A request across an edge of the window counts in proportion to its time inside: short windows (a fast
      // chat phase) neither lose nor gain a whole batch.
      const double in = seconds_between(std::max(d.start, w0), std::min(d.end, w1));
      const double all = seconds_between(d.start, d.end);
      if (in > 0 && all > 0) embeddings += static_cast<double>(d.vectors) * std::min(1.0, in / all);
    }
  }

  // "embeddings alone", "chats=4 alone", "chats=4 + embeddings": the case of this phase's samples.
  std::string case_name() const {
    if (concurrency == 0) return name;
    return "chats=" + std::to_string(concurrency) + (name == "chats alone" ? " alone" : " + embeddings");
  }

  // Every successful request's own figures as samples; counts and failures into the configuration's phases.
  void add_to(Report& r, const std::string& side) const {
    const std::string c = case_name();
    json info{{"seconds", seconds}};
    if (concurrency > 0) {
      r.add(c, side, "ttft_ms", "ms", values(&ChatResult::ttft_ms));
      r.add(c, side, "decode_tokens_per_s", "tokens/s", values(&ChatResult::decode_tps, true));
      r.add(c, side, "latency_ms", "ms", values(&ChatResult::total_ms));
      std::vector<double> streamed, usage;
      json finish = json::array(), status = json::array();
      for (auto& ch : chats) {
        if (!ch.ok) continue;
        streamed.push_back(ch.tokens);
        if (ch.completion_tokens >= 0) usage.push_back(ch.completion_tokens);
      }
      for (auto& ch : chats) {  // each distinct value once, in the order seen
        if (std::find(finish.begin(), finish.end(), ch.finish_reason) == finish.end())
          finish.push_back(ch.finish_reason);
        if (std::find(status.begin(), status.end(), ch.status) == status.end()) status.push_back(ch.status);
      }
      r.add(c, side, "streamed_tokens", "tokens", streamed);  // counted by the client, one per content chunk
      if (usage.size() == streamed.size() && !usage.empty())  // the server's own count, where it sent one
        r.add(c, side, "usage_completion_tokens", "tokens", usage);
      r.add(c, side, "generated_tokens_per_s", "tokens/s", tokens_per_s());
      info.update({{"clients", std::min<std::size_t>(static_cast<std::size_t>(concurrency), chats.size())},
                   {"requests_ok", chats_ok()},
                   {"requests_failed", static_cast<int>(chats.size()) - chats_ok()},
                   {"tokens", tokens()},
                   {"finish_reasons", finish},
                   {"http_status", status}});
    }
    if (embed_ok > 0) {
      r.add(c, side, "embeddings_per_s", "1/s", embeddings_per_s());
      r.add(c, side, "embed_request_ms", "ms", embed_ms);
    }
    info.update({{"embed_requests_ok", embed_ok}, {"embed_requests_failed", embed_failed},
                 {"embeddings_in_window", embeddings}, {"embeddings_done", embeddings_done},
                 {"failures", failures.to_json()}});
    r.config()["phases"][c] = info;
    for (auto& [m, n] : failures.items) r.add_note(c + ": " + std::to_string(n) + " x " + m);
  }
};

std::string cell(double x, int width, int decimals = 1) {
  char b[64];
  if (std::isnan(x)) std::snprintf(b, sizeof b, "%*s", width, "-");
  else std::snprintf(b, sizeof b, "%*.*f", width, decimals, x);
  return b;
}

void print_header() {
  std::printf("\n  %-19s %4s %5s %5s | %-35s | %9s | %-17s | %8s | %8s %9s\n", "", "", "chats", "", "TTFT ms",
              "decode", "latency ms", "gen", "embed", "embed req");
  std::printf("  %-19s %4s %5s %5s | %8s %8s %8s %8s | %9s | %8s %8s | %8s | %8s %9s\n", "phase", "conc", "ok", "fail",
              "p50", "p90", "p99", "max", "tok/s p50", "p50", "p99", "tok/s", "vec/s", "ok/fail");
}

void print_row(const Phase& p) {
  const bool chats = p.concurrency > 0;
  const auto ttft = p.values(&ChatResult::ttft_ms), total = p.values(&ChatResult::total_ms);
  const double nan = std::nan("");
  const std::string emb_req =
      p.embed_ok + p.embed_failed > 0 ? std::to_string(p.embed_ok) + "/" + std::to_string(p.embed_failed) : "-";
  std::printf("  %-19s %4s %5s %5s | %s %s %s %s | %s | %s %s | %s | %s %9s\n", p.name.c_str(),
              chats ? std::to_string(p.concurrency).c_str() : "-",
              chats ? std::to_string(p.chats_ok()).c_str() : "-",
              chats ? std::to_string(static_cast<int>(p.chats.size()) - p.chats_ok()).c_str() : "-",
              cell(percentile(ttft, 50), 8).c_str(), cell(percentile(ttft, 90), 8).c_str(),
              cell(percentile(ttft, 99), 8).c_str(), cell(percentile(ttft, 100), 8).c_str(),
              cell(percentile(p.values(&ChatResult::decode_tps, true), 50), 9).c_str(),
              cell(percentile(total, 50), 8, 0).c_str(), cell(percentile(total, 99), 8, 0).c_str(),
              cell(chats ? p.tokens_per_s() : nan, 8).c_str(),
              cell(p.embed_ok + p.embed_failed > 0 ? p.embeddings_per_s() : nan, 8).c_str(), emb_req.c_str());
  std::fflush(stdout);
}

// nvidia-smi's answer, like the device scripts record it; "" without one. Asked of nvidia-smi rather than the
// CUDA runtime so that this client opens no context on the card it measures.
std::string gpu_info() {
  FILE* p = popen("command -v nvidia-smi >/dev/null 2>&1 && "
                  "nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null", "r");
  if (!p) return {};
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  if (pclose(p) != 0) return {};
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  for (std::size_t i = 0; (i = out.find('\n', i)) != std::string::npos;) out.replace(i, 1, "; ");
  return out;
}

struct Models {
  std::string chat, embed;
  std::vector<std::string> chat_listed, embed_listed;
};

// --chat-model / --embed-model, else from GET /v1/models. A server may list its chat model and its embedder
// under one URL (ours does, chat first): the embedder is the first listed id that answers an embedding request,
// and the chat model the first other id.
Models pick_models(const ServeBenchOptions& o) {
  Models m{o.chat_model, o.embed_model, {}, {}};
  const OpenAiClientOptions co{.token = o.token, .timeout_s = o.timeout_s};
  ModelList embed_list;
  if (o.embed_clients > 0) {
    OpenAiClient client(o.embed_url, co);
    embed_list = client.models();
    if (!embed_list.ok) std::printf("  GET %s/v1/models: %s\n", o.embed_url.c_str(), embed_list.error.c_str());
    m.embed_listed = embed_list.ids;
    for (std::size_t i = 0; m.embed.empty() && i < embed_list.ids.size(); ++i)
      if (client.embed(embed_list.ids[i], {"probe"}).ok) m.embed = embed_list.ids[i];
    if (m.embed.empty() && !embed_list.ids.empty()) m.embed = embed_list.ids.front();  // its errors will show
  }
  if (m.chat.empty()) {
    const bool same = o.embed_clients > 0 && o.chat_url == o.embed_url;
    const ModelList chat_list = same ? embed_list : OpenAiClient(o.chat_url, co).models();
    if (!chat_list.ok && !same) std::printf("  GET %s/v1/models: %s\n", o.chat_url.c_str(), chat_list.error.c_str());
    m.chat_listed = chat_list.ids;
    for (const auto& id : chat_list.ids)
      if (m.chat.empty() && id != m.embed) m.chat = id;
    if (m.chat.empty() && !chat_list.ids.empty()) m.chat = chat_list.ids.front();
  }
  return m;
}

// `n` chats from `concurrency` clients, each taking the next request as soon as its previous one ended.
Phase chat_phase(const ServeBenchOptions& o, const Models& m, const char* name, int concurrency, bool with_embed,
                 uint64_t& next_request) {
  Phase ph{.name = name, .concurrency = concurrency};
  std::vector<std::string> prompts;
  for (int i = 0; i < o.chats; ++i) prompts.push_back(chat_prompt(o, next_request++));
  std::unique_ptr<EmbedLoad> load;
  if (with_embed) {
    load = std::make_unique<EmbedLoad>(o, m.embed, next_request);
    std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup_s));
  }
  ph.chats.resize(prompts.size());
  std::atomic<std::size_t> next{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < std::min(concurrency, o.chats); ++c) {
    clients.emplace_back([&] {
      OpenAiClient client(o.chat_url, {.token = o.token, .timeout_s = o.timeout_s});
      while (true) {
        const std::size_t i = next++;
        if (i >= prompts.size()) break;
        ph.chats[i] = client.chat({.model = m.chat, .prompt = prompts[i], .max_tokens = o.max_tokens, .ignore_eos = o.ignore_eos});
      }
    });
  }
  for (auto& t : clients) t.join();
  const auto t1 = Clock::now();
  ph.seconds = seconds_between(t0, t1);
  for (auto& c : ph.chats)
    if (!c.ok) ph.failures.add("chat: " + c.error);
  if (load) ph.count_embeddings(load->stop(), t0, t1);
  return ph;
}

Phase embed_phase(const ServeBenchOptions& o, const Models& m) {
  Phase ph{.name = "embeddings alone"};
  EmbedLoad load(o, m.embed, 0);
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup_s));
  const auto w0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.embed_seconds));
  const auto w1 = Clock::now();
  ph.seconds = seconds_between(w0, w1);
  ph.count_embeddings(load.stop(), w0, w1);
  return ph;
}



// "ours" for our server (a label starting with "ut serve"), else the label: the peer's name in the report.
std::string side_of(const std::string& label) { return label.rfind("ut serve", 0) == 0 ? "ours" : label; }

// The card nvidia-smi names ("NVIDIA H200, 580.159.04, 143771 MiB"): the server's device when it runs on this
// host, which is how the device scripts run both. Without one the report keeps the host CPU.
void set_gpu_device(Report& r, const std::string& gpu) {
  if (gpu.empty()) {
    r.add_note("device: no GPU seen by nvidia-smi on the client's host; the device is the host CPU");
    return;
  }
  const std::string first = gpu.substr(0, gpu.find(';'));  // the first card
  std::vector<std::string> f;
  for (std::size_t p = 0; p <= first.size();) {
    const std::size_t e = std::min(first.find(',', p), first.size());
    std::string x = first.substr(p, e - p);
    while (!x.empty() && x.front() == ' ') x.erase(x.begin());
    f.push_back(x);
    p = e + 1;
  }
  const std::size_t mib = f.size() > 2 ? std::strtoull(f[2].c_str(), nullptr, 10) : 0;
  r.set_device("cuda", f[0], f.size() > 1 ? f[1] : "", 0, mib * 1024 * 1024);
  r.add_note("device: the client's host's card as nvidia-smi reports it (" + gpu + ")");
}


// What the run's file records beyond its phases.
struct RunFacts {
  std::string started, gpu;
  double seconds = 0;
  int ok = 0, failed = 0;
};

// The run as ut-bench/1: options and models in the configuration, every phase's samples; false when the file cannot
// be written (the message is printed).
bool write_report(const ServeBenchOptions& o, const Models& m, const std::vector<const Phase*>& phases,
                  const std::vector<serve::OpenLoopPhase>& open, const RunFacts& f) {
  Report r("serve");
  r.config() = {{"label", o.label},
                {"side", side_of(o.label)},
                {"chat_url", o.chat_url},
                {"embed_url", o.embed_url},
                {"chat_model", m.chat},
                {"embed_model", m.embed},
                {"models_listed", {{"chat_url", m.chat_listed}, {"embed_url", m.embed_listed}}},
                {"options", {{"chats", o.chats}, {"concurrency", o.closed_loop ? json(o.concurrency) : json::array()},
                             {"rates", o.rates}, {"prompt_words", o.prompt_words},
                             {"max_tokens", o.max_tokens}, {"ignore_eos", o.ignore_eos}, {"temperature", 0},
                             {"embed_clients", o.embed_clients}, {"embed_batch", o.embed_batch},
                             {"embed_seconds", o.embed_seconds}, {"warmup_s", o.warmup_s}, {"seed", o.seed},
                             {"timeout_s", o.timeout_s}, {"token", !o.token.empty()}}},
                {"started_utc", f.started},
                {"seconds", f.seconds},
                {"chats_ok", f.ok},
                {"chats_failed", f.failed},
                {"phases", nlohmann::ordered_json::object()}};
  set_gpu_device(r, f.gpu);
  for (const Phase* p : phases) p->add_to(r, side_of(o.label));
  for (const auto& p : open) serve::add_open_loop(r, side_of(o.label), p);
  if (!open.empty()) {
    // The first rate whose TTFT p99 (its maximum below 200 samples, an upper bound) is over 200 ms.
    json over = nullptr;
    for (const auto& p : open)
      if (p.ttft_p99_or_max() > 200) {
        over = p.rate;
        break;
      }
    r.config()["open_loop_ttft_over_200ms_at_rate"] = over;
  }
  try {
    r.write(o.json_path);
  } catch (const Error& e) {
    std::fprintf(stderr, "ut bench serve: %s\n", e.what());
    return false;
  }
  return true;
}

}  // namespace

std::vector<int> parse_concurrency(const std::string& s) {
  std::vector<int> out;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    const auto comma = std::min(s.find(',', pos), s.size());
    const std::string item = s.substr(pos, comma - pos);
    std::size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || v < 1 || v > 1024)
      throw std::invalid_argument("'" + s + "': expected numbers 1..1024 separated by commas, e.g. 1,4,16");
    out.push_back(v);
    pos = comma + 1;
  }
  return out;
}

int run_serve_bench(const ServeBenchOptions& in) {
  ServeBenchOptions o = in;
  if (o.embed_url.empty()) o.embed_url = o.chat_url;
  if (o.label.empty()) o.label = o.chat_url;
  if (o.concurrency.empty()) o.concurrency = {1};
  const auto t_all = Clock::now();
  const std::string started = utc_now();
  const std::string gpu = gpu_info();

  std::printf("ut bench serve — %s\n", o.label.c_str());
  const Models m = pick_models(o);
  std::printf("  chat        %s  model %s\n", o.chat_url.c_str(), m.chat.empty() ? "(none named: the server's default)" : m.chat.c_str());
  if (o.embed_clients > 0)
    std::printf("  embeddings  %s  model %s\n", o.embed_url.c_str(), m.embed.empty() ? "(none named: the server's default)" : m.embed.c_str());
  std::printf("  %d chats per phase, prompts of %d random words, max_tokens %d%s, temperature 0, streamed\n", o.chats,
              o.prompt_words, o.max_tokens, o.ignore_eos ? ", ignore_eos" : "");
  if (o.embed_clients > 0)
    std::printf("  embedding load: %d clients x %d texts per request; embeddings alone for %.1f s\n", o.embed_clients,
                o.embed_batch, o.embed_seconds);
  for (const int c : o.concurrency)
    if (c > o.chats) std::printf("  note: concurrency %d > %d chats per phase: only %d clients run\n", c, o.chats, o.chats);
  const HostInfo host = host_info();
  std::printf("  this machine: %s, %u cores, %.1f GiB; GPU: %s\n", host.cpu_name.c_str(), host.cores,
              static_cast<double>(host.memory_total) / (1024.0 * 1024.0 * 1024.0), gpu.empty() ? "none seen by nvidia-smi" : gpu.c_str());

  // Warm-up, not measured: the first request of a server may load or compile things.
  {
    OpenAiClient c(o.chat_url, {.token = o.token, .timeout_s = o.timeout_s});
    const auto w = c.chat({.model = m.chat, .prompt = random_words(mix(o.seed, ~0ull), 16),
                           .max_tokens = std::min(o.max_tokens, 8), .ignore_eos = o.ignore_eos});
    if (w.ok) std::printf("  warm-up chat: ok (%.0f ms)\n", w.total_ms);
    else std::printf("  warm-up chat failed: %s\n", w.error.c_str());
  }

  // One embeddings-alone phase, then per concurrency value: chats alone, chats + embeddings.
  std::optional<Phase> embed_alone;
  std::vector<std::pair<Phase, std::optional<Phase>>> runs;
  if (o.closed_loop || o.embed_clients > 0) print_header();
  if (o.embed_clients > 0) {
    embed_alone = embed_phase(o, m);
    print_row(*embed_alone);
  }
  uint64_t next_request = 0;
  for (const int c : o.closed_loop ? o.concurrency : std::vector<int>{}) {
    auto& run = runs.emplace_back(chat_phase(o, m, "chats alone", c, false, next_request), std::nullopt);
    print_row(run.first);
    if (o.embed_clients > 0) {
      run.second = chat_phase(o, m, "chats + embeddings", c, true, next_request);
      print_row(*run.second);
    }
  }

  std::vector<serve::OpenLoopPhase> open;
  if (!o.rates.empty()) {
    serve::print_open_loop_header();
    for (const double rate : o.rates) {
      open.push_back(serve::open_loop_phase(o, m.chat, rate, next_request));
      serve::print_open_loop_row(open.back());
    }
    std::printf("  * p99 from >= 200 requests; with fewer, the largest TTFT (an upper bound of p99)\n");
  }

  std::vector<const Phase*> all;
  if (embed_alone) all.push_back(&*embed_alone);
  for (auto& [alone, with] : runs) {
    all.push_back(&alone);
    if (with) all.push_back(&*with);
  }
  int ok = 0, failed = 0;
  bool busy = false;
  for (const Phase* p : all) {
    ok += p->chats_ok();
    failed += static_cast<int>(p->chats.size()) - p->chats_ok();
    if (p->failures.items.empty()) continue;
    std::printf("\n  failures in \"%s\"%s:\n", p->name.c_str(),
                p->concurrency > 0 ? (" at concurrency " + std::to_string(p->concurrency)).c_str() : "");
    for (auto& [msg, n] : p->failures.items) {
      std::printf("    %d x %s\n", n, msg.c_str());
      busy = busy || msg.find("HTTP 429") != std::string::npos;
    }
  }
  for (const auto& p : open) {
    ok += static_cast<int>(p.ttft_ms().size());
    failed += static_cast<int>(p.chats.size() - p.ttft_ms().size());
    if (p.failures.items.empty()) continue;
    std::printf("\n  failures in \"%s\":\n", p.case_name().c_str());
    for (auto& [msg, n] : p.failures.items) {
      std::printf("    %d x %s\n", n, msg.c_str());
      busy = busy || msg.find("HTTP 429") != std::string::npos;
    }
  }
  if (busy)
    std::printf("\n  HTTP 429 means the server refused work as busy: `ut serve --max-heavy-ops N` admits more at once\n"
                "  (llama-server queues requests instead; its --parallel sets the slots).\n");

  const double seconds = seconds_between(t_all, Clock::now());
  int rc = 0;
  if (ok == 0) {
    std::fflush(stdout);
    std::fprintf(stderr, "ut bench serve: no chat request succeeded (%d failed); the failures are listed above\n", failed);
    rc = 1;
  }
  if (!o.json_path.empty()) {
    const RunFacts facts{.started = started, .gpu = gpu, .seconds = seconds, .ok = ok, .failed = failed};
    if (!write_report(o, m, all, open, facts)) return 1;
    std::printf("\nsaved %s (%.0f s)\n", o.json_path.c_str(), seconds);
  }
  return rc;
}

}  // namespace ut::bench
