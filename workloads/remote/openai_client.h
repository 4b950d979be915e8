// A small client for OpenAI-compatible HTTP servers (ours: `ut serve`; llama.cpp's llama-server; vLLM; others):
// chat completions streamed as server-sent events and timed per chunk as it arrives, embeddings checked for shape,
// the model list. The load benchmarks measure servers with it; the engine's remote generation (RemoteChat,
// `ut serve --chat-url`) sends its chats through it.
//
//   ut::remote::OpenAiClient c("http://127.0.0.1:8080", {.token = "", .timeout_s = 60});
//   auto models = c.models();                          // GET /v1/models: ids in the server's order
//   auto r = c.chat({.model = models.ids.at(0), .prompt = "Hello", .max_tokens = 64});
//   if (r.ok) std::printf("TTFT %.1f ms, %d tokens, %.1f tokens/s\n", r.ttft_ms, r.tokens, r.decode_tps);
//   else std::printf("failed: %s\n", r.error.c_str());  // "HTTP 429: the engine is busy ..."
//   auto e = c.embed("bge", {"a", "b"});               // e.vectors == 2, e.dim > 0
//
// Contract
// - The base URL is scheme://host[:port][/prefix]; a trailing "/v1" is accepted and dropped (both spellings are
//   common). https works where cpp-httplib was built with OpenSSL (Debian's is).
// - Errors never throw: each call returns ok = false with `error` ("HTTP <status>: <server's message>", or the
//   transport error). timeout_s bounds connecting, each read, and the whole request.
// - A chat counts one token per SSE chunk whose choices[0].delta.content is non-empty (servers send one token
//   per chunk; a server that merges tokens is undercounted, which usage.completion_tokens then shows).
// - A chat sends `messages` when given (else one user message, `prompt`), temperature 0 unless `options` says
//   otherwise, and every field of `options` as it is (top_p, seed, stop, penalties, ...). on_content sees each
//   content delta as it arrives; returning false closes the connection (the server stops generating) and the
//   result has stopped = true (not an error).
// - One client per thread: it holds one keep-alive connection.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace httplib {
class Client;
}

namespace ut::remote {

struct OpenAiClientOptions {
  std::string token;       // bearer token; empty: none sent
  double timeout_s = 120;
};

struct ChatParams {
  std::string model;       // empty: the field is left out (single-model servers pick theirs)
  std::string prompt;
  std::vector<std::pair<std::string, std::string>> messages;  // (role, content); when set, instead of prompt
  int max_tokens = 64;
  bool ignore_eos = true;  // llama-server (and `ut serve`) keep generating past end-of-sequence: equal work
  nlohmann::json options = nlohmann::json::object();  // more request fields, sent as they are
  std::function<bool(std::string_view)> on_content;     // each content delta; false: stop reading
};

struct ChatResult {
  bool ok = false;
  int status = 0;            // HTTP status; 0: no response
  std::string error;
  double ttft_ms = 0;        // request start -> first non-empty content chunk
  double total_ms = 0;       // request start -> end of the stream
  double decode_tps = 0;     // (tokens - 1) / (last token - first token); 0 with fewer than 2 tokens
  int tokens = 0;            // non-empty content chunks
  int completion_tokens = -1;  // usage.completion_tokens when the server sends it; -1 otherwise
  int prompt_tokens = -1;      // usage.prompt_tokens likewise
  std::string finish_reason;
  std::string text;            // the content deltas joined
  bool stopped = false;        // on_content returned false
};

struct EmbedResult {
  bool ok = false;
  int status = 0;
  std::string error;
  std::size_t vectors = 0, dim = 0;
  double ms = 0;
};

struct ModelList {
  bool ok = false;
  std::string error;
  std::vector<std::string> ids;
};

class OpenAiClient {
 public:
  OpenAiClient(const std::string& base_url, OpenAiClientOptions options);
  ~OpenAiClient();
  OpenAiClient(const OpenAiClient&) = delete;
  OpenAiClient& operator=(const OpenAiClient&) = delete;

  ModelList models();
  ChatResult chat(const ChatParams& p);
  EmbedResult embed(const std::string& model, const std::vector<std::string>& texts);

 private:
  OpenAiClientOptions options_;
  std::string prefix_;     // path before /v1
  std::string url_error_;  // set when the URL cannot be used; every call then fails with it
  std::unique_ptr<httplib::Client> http_;
};

// "HTTP 404: unknown model 'x'" from a status and an error body ({"error": {"message"}} or {"error": "..."} or
// text), shortened to one line.
std::string http_error_text(int status, const std::string& body);

}  // namespace ut::remote
