// The OpenAI-compatible client of `ut bench serve` (see openai_client.h).
#include "workloads/remote/openai_client.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <string_view>

namespace ut::remote {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::string one_line(std::string s, std::size_t max = 300) {
  for (auto& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  if (s.size() > max) s = s.substr(0, max) + " ...";
  return s;
}

std::string transport_error(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection: return "cannot connect (nothing listening there, or the host is unreachable)";
    case httplib::Error::ConnectionTimeout: return "connecting timed out";
    case httplib::Error::Read: return "reading the response failed or timed out (connection closed or server silent)";
    case httplib::Error::Write: return "sending the request failed (connection closed)";
    default: return "HTTP client error " + httplib::to_string(e);
  }
}

// One request. With on_data, a 200 response's body goes there piece by piece as it arrives (stamped with its
// arrival time) instead of into `body`; on_data returning false stops reading. Other statuses always collect the
// body, so the server's error message can be shown.
struct Exchange {
  bool sent = false;       // a complete response was read
  httplib::Error err = httplib::Error::Success;
  int status = 0;
  std::string body;
  bool timed_out = false;  // the whole-request deadline passed
};

using DataFn = std::function<bool(std::string_view, Clock::time_point)>;

Exchange exchange(httplib::Client& http, const char* method, const std::string& path, const std::string& body,
                  double timeout_s, const DataFn& on_data = {}) {
  Exchange x;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.body = body;
  if (!body.empty()) req.set_header("Content-Type", "application/json");
  // Compressed answers would be buffered by the compressor and cost the server CPU time that others don't spend.
  req.set_header("Accept-Encoding", "identity");
  req.response_handler = [&x](const httplib::Response& res) {
    x.status = res.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    const auto now = Clock::now();
    if (x.status == 200 && on_data) {
      if (!on_data(std::string_view(data, n), now)) return false;
    } else {
      x.body.append(data, n);
    }
    if (now >= deadline) x.timed_out = true;
    return !x.timed_out;
  };
  httplib::Response res;
  x.sent = http.send(req, res, x.err);
  if (x.status == 0 && x.sent) x.status = res.status;  // a response without a body skips the handlers
  return x;
}

// The error of a failed exchange; empty when it succeeded with status 200.
std::string exchange_error(const Exchange& x, double timeout_s) {
  if (x.timed_out) return "no complete answer within " + std::to_string(static_cast<int>(timeout_s)) + " s (--timeout-s)";
  if (x.status == 0) return transport_error(x.err);
  if (x.status != 200) return http_error_text(x.status, x.body);
  if (!x.sent) return "the response broke off: " + transport_error(x.err);
  return {};
}

}  // namespace

std::string http_error_text(int status, const std::string& body) {
  std::string msg = body;
  try {
    const auto j = json::parse(body);
    if (j.contains("error") && j["error"].is_object() && j["error"].contains("message") && j["error"]["message"].is_string())
      msg = j["error"]["message"].get<std::string>();
    else if (j.contains("error") && j["error"].is_string())
      msg = j["error"].get<std::string>();
    else if (j.contains("message") && j["message"].is_string())
      msg = j["message"].get<std::string>();
  } catch (const json::exception&) {
    // not JSON: show the text itself
  }
  if (msg.empty()) msg = "(empty body)";
  return "HTTP " + std::to_string(status) + ": " + one_line(msg);
}

OpenAiClient::OpenAiClient(const std::string& base_url, OpenAiClientOptions options) : options_(std::move(options)) {
  std::string url = base_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  const auto scheme_end = url.find("://");
  const std::size_t host_begin = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  const auto slash = url.find('/', host_begin);
  const std::string origin = url.substr(0, slash);
  if (slash != std::string::npos) prefix_ = url.substr(slash);
  if (prefix_.ends_with("/v1")) prefix_.resize(prefix_.size() - 3);
  if (origin.size() <= host_begin) {
    url_error_ = "no host in URL '" + base_url + "'";
    return;
  }
  try {
    http_ = std::make_unique<httplib::Client>(origin);
  } catch (const std::exception& e) {
    url_error_ = "cannot use URL '" + base_url + "': " + e.what();
    return;
  }
  if (!http_->is_valid()) {
    url_error_ = "cannot use URL '" + base_url + "'";
    http_.reset();
    return;
  }
  const auto t = std::chrono::milliseconds(static_cast<int64_t>(options_.timeout_s * 1000));
  http_->set_connection_timeout(t);
  http_->set_read_timeout(t);
  http_->set_write_timeout(t);
  // A fresh connection per request: llama-server may close a kept-alive connection after a stream, and the
  // next request on it then fails to read (seen on loopback). Connecting costs well under a millisecond there.
  http_->set_keep_alive(false);
  // Without it a POST's body waits behind its headers for the server's delayed ACK: ~40 ms on every request.
  http_->set_tcp_nodelay(true);
  http_->set_decompress(false);
  if (!options_.token.empty()) http_->set_bearer_token_auth(options_.token);
}

OpenAiClient::~OpenAiClient() = default;

ModelList OpenAiClient::models() {
  ModelList m;
  if (!http_) {
    m.error = url_error_;
    return m;
  }
  const auto x = exchange(*http_, "GET", prefix_ + "/v1/models", {}, options_.timeout_s);
  m.error = exchange_error(x, options_.timeout_s);
  if (!m.error.empty()) return m;
  try {
    const auto j = json::parse(x.body);
    for (const auto& d : j.at("data"))
      if (d.contains("id") && d["id"].is_string()) m.ids.push_back(d["id"].get<std::string>());
    m.ok = true;
  } catch (const json::exception& e) {
    m.error = std::string("GET /v1/models: unexpected answer (") + e.what() + ")";
  }
  return m;
}

ChatResult OpenAiClient::chat(const ChatParams& p) {
  ChatResult r;
  if (!http_) {
    r.error = url_error_;
    return r;
  }
  json messages = json::array();
  if (p.messages.empty()) messages.push_back({{"role", "user"}, {"content", p.prompt}});
  for (const auto& [role, content] : p.messages) messages.push_back({{"role", role}, {"content", content}});
  json body{{"messages", messages},
            {"max_tokens", p.max_tokens},
            {"temperature", 0}};
  for (const auto& [k, v] : p.options.items()) body[k] = v;
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};  // OpenAI's way to get usage in the last chunk
  if (!p.model.empty()) body["model"] = p.model;
  if (p.ignore_eos) body["ignore_eos"] = true;

  std::string pending, stream_error;
  bool done = false;
  Clock::time_point t_first{}, t_last{};
  // One SSE line: "data: {json}", "data: [DONE]"; comments (":") and other fields are skipped.
  auto on_line = [&](std::string_view line, Clock::time_point now) {
    if (!line.starts_with("data:")) return;
    line.remove_prefix(5);
    if (line.starts_with(' ')) line.remove_prefix(1);
    if (line == "[DONE]") {
      done = true;
      return;
    }
    json c;
    try {
      c = json::parse(line);
    } catch (const json::exception&) {
      if (stream_error.empty()) stream_error = "malformed event data: " + one_line(std::string(line), 120);
      return;
    }
    if (c.contains("error") && stream_error.empty()) {
      stream_error = http_error_text(200, c.dump()) + " (in the stream)";
      return;
    }
    if (c.contains("usage") && c["usage"].is_object()) {
      const auto& u = c["usage"];
      if (u.contains("completion_tokens") && u["completion_tokens"].is_number_integer())
        r.completion_tokens = u["completion_tokens"].get<int>();
      if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number_integer()) r.prompt_tokens = u["prompt_tokens"].get<int>();
    }
    if (!c.contains("choices") || !c["choices"].is_array() || c["choices"].empty()) return;  // e.g. the usage chunk
    const auto& ch = c["choices"][0];
    if (ch.contains("finish_reason") && ch["finish_reason"].is_string()) r.finish_reason = ch["finish_reason"];
    if (!ch.contains("delta") || !ch["delta"].is_object()) return;
    const auto& d = ch["delta"];
    if (!d.contains("content") || !d["content"].is_string() || d["content"].get_ref<const std::string&>().empty()) return;
    if (r.tokens++ == 0) t_first = now;
    t_last = now;
    const auto& piece = d["content"].get_ref<const std::string&>();
    r.text += piece;
    if (p.on_content && !p.on_content(piece)) r.stopped = true;
  };
  const auto t0 = Clock::now();
  const auto x = exchange(*http_, "POST", prefix_ + "/v1/chat/completions", body.dump(), options_.timeout_s,
                          [&](std::string_view data, Clock::time_point now) {
                            pending.append(data);
                            std::size_t start = 0;
                            for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
                              std::string_view line(pending.data() + start, nl - start);
                              if (line.ends_with('\r')) line.remove_suffix(1);
                              on_line(line, now);
                              if (r.stopped) return false;
                            }
                            pending.erase(0, start);
                            return true;
                          });
  r.total_ms = ms_between(t0, Clock::now());
  r.status = x.status;
  if (r.tokens > 0) r.ttft_ms = ms_between(t0, t_first);
  const double decode_s = std::chrono::duration<double>(t_last - t_first).count();
  if (r.tokens >= 2 && decode_s > 0) r.decode_tps = (r.tokens - 1) / decode_s;
  if (r.stopped) {  // the caller ended it: what arrived is the answer so far
    r.ok = true;
    return r;
  }
  r.error = exchange_error(x, options_.timeout_s);
  if (!r.error.empty() && x.status == 200) r.error += " after " + std::to_string(r.tokens) + " tokens";
  if (r.error.empty()) r.error = stream_error;
  if (r.error.empty() && !done && r.finish_reason.empty()) r.error = "the stream ended without [DONE]";
  if (r.error.empty() && r.tokens == 0) r.error = "the stream carried no content";
  r.ok = r.error.empty();
  return r;
}

EmbedResult OpenAiClient::embed(const std::string& model, const std::vector<std::string>& texts) {
  EmbedResult r;
  if (!http_) {
    r.error = url_error_;
    return r;
  }
  json body{{"input", texts}, {"encoding_format", "float"}};
  if (!model.empty()) body["model"] = model;
  const auto t0 = Clock::now();
  const auto x = exchange(*http_, "POST", prefix_ + "/v1/embeddings", body.dump(), options_.timeout_s);
  r.ms = ms_between(t0, Clock::now());
  r.status = x.status;
  r.error = exchange_error(x, options_.timeout_s);
  if (!r.error.empty()) return r;
  try {
    const auto j = json::parse(x.body);
    const auto& data = j.at("data");
    std::size_t n = 0, dim = 0;
    bool same = true;
    for (const auto& d : data) {
      const auto& e = d.at("embedding");
      if (n++ == 0) dim = e.size();
      same = same && e.is_array() && e.size() == dim;
    }
    if (n != texts.size() || !same || dim == 0) {
      r.error = "expected " + std::to_string(texts.size()) + " embeddings of one dimension > 0, got " +
                std::to_string(n) + (same ? " of dimension " + std::to_string(dim) : " of differing dimensions");
      return r;
    }
    r.vectors = n;
    r.dim = dim;
    r.ok = true;
  } catch (const json::exception& e) {
    r.error = std::string("unexpected embeddings answer (") + e.what() + ")";
  }
  return r;
}

}  // namespace ut::remote
