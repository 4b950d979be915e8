// RemoteChat: the chat lane's generation sent to another OpenAI-compatible server (vLLM, llama.cpp's server,
// another `ut serve`) for users whose chats outgrow one GPU. Retrieval, SQL and documents stay local; the answer
// streams back token by token into the chat's ring, as a local generation would.
//
//   ut::engine::RemoteChat remote({.url = "http://gpu-box:8000", .api_key = "..."});  // asks /v1/models
//   remote.start(messages, gen, [](ut::ml::GenerateResult r, std::exception_ptr e) { ... });
//
// Contract
// - The constructor asks the server for its models (GET /v1/models) and takes the first one unless `model` names
//   one; an unreachable server or an unknown model is a BackendError there, at start-up.
// - start() runs one chat on a thread of its own (chats run concurrently, the server batches them): a streamed
//   POST /v1/chat/completions with the messages, max_tokens, temperature, top_p, seed, stop and the penalties;
//   each content delta becomes a StreamToken in gen.ring (id 0: the server's token ids are not sent), then the
//   final event (id -1). *gen.cancel closes the connection (the server stops generating) and ends with reason cancelled.
// - Failures reach `done` as RemoteError: the server's 4xx with its status and message, 502 for anything else
//   (unreachable, a 5xx, a broken stream). Options that need the local sampler (a grammar, logprobs) are refused
//   by check() with a UsageError.
// - The destructor cancels every chat in flight and waits for their threads.
// http:// and https:// (Debian's cpp-httplib is built with OpenSSL).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "timeline/error.h"
#include "workloads/ml/generator.h"

namespace ut::engine {

struct RemoteChatConfig {
  std::string url;      // "http://host:port" (a trailing /v1 is allowed); empty: no remote generation
  std::string api_key;  // sent as "Authorization: Bearer <key>" when set
  std::string model;    // the server's model id; empty: the first of its /v1/models
  std::chrono::seconds timeout{300};  // connect and read limit per chat
};

// A failed remote chat: `status` is what our API answers (the server's 4xx, else 502), `type` the error type.
class RemoteError : public Error {
 public:
  RemoteError(int http_status, std::string error_type, const std::string& message)
      : Error(message), status(http_status), type(std::move(error_type)) {}
  int status;
  std::string type;
};

class RemoteChat {
 public:
  using Done = std::function<void(ml::GenerateResult, std::exception_ptr)>;
  explicit RemoteChat(RemoteChatConfig config);
  ~RemoteChat();
  RemoteChat(const RemoteChat&) = delete;
  RemoteChat& operator=(const RemoteChat&) = delete;

  const std::string& model() const noexcept { return config_.model; }
  const std::string& url() const noexcept { return config_.url; }
  // Throws UsageError for options only the local sampler has.
  static void check(const ml::GenerateOptions& gen);
  void start(std::vector<ml::ChatMessage> messages, ml::GenerateOptions gen, Done done);
  int in_flight() const;  // chats whose thread has not returned yet (a chat's `done` runs just before)

 private:
  ml::GenerateResult run(const std::vector<ml::ChatMessage>& messages, const ml::GenerateOptions& gen) const;

  RemoteChatConfig config_;
  std::string host_port_, base_;  // "http://host:port" and the path prefix before /v1
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  int running_ = 0;
};

}  // namespace ut::engine
