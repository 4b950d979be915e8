#include "engine/remote_chat.h"

#include <algorithm>
#include <thread>

#include "timeline/clock.h"
#include "workloads/remote/openai_client.h"

namespace ut::engine {
namespace {

remote::OpenAiClient client_for(const RemoteChatConfig& c) {
  return remote::OpenAiClient(c.url, {.token = c.api_key, .timeout_s = static_cast<double>(c.timeout.count())});
}

}  // namespace

RemoteChat::RemoteChat(RemoteChatConfig config) : config_(std::move(config)) {
  constexpr const char* where = "[RemoteChat]";
  if (!config_.url.starts_with("http://") && !config_.url.starts_with("https://"))
    throw UsageError(std::string(where) + " --chat-url must start with http:// or https:// (got '" + config_.url + "')");
  auto client = client_for(config_);
  const remote::ModelList models = client.models();
  if (!models.ok) throw BackendError(std::string(where) + " " + config_.url + ": " + models.error);
  if (models.ids.empty()) throw BackendError(std::string(where) + " " + config_.url + " serves no model");
  if (config_.model.empty()) {
    config_.model = models.ids.front();
  } else if (std::find(models.ids.begin(), models.ids.end(), config_.model) == models.ids.end()) {
    std::string all;
    for (const auto& id : models.ids) all += (all.empty() ? "" : ", ") + id;
    throw BackendError(std::string(where) + " " + config_.url + " has no model '" + config_.model + "' (it serves " +
                       all + ")");
  }
}

RemoteChat::~RemoteChat() {
  stopping_ = true;  // every chat's content callback returns false from its next delta
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return running_ == 0; });
}

void RemoteChat::check(const ml::GenerateOptions& gen) {
  if (!gen.grammar.empty())
    throw UsageError("[RemoteChat] response_format json_object/json_schema and tool_choice 'required' or a named "
                     "function need the local sampler: not available when chats go to another server (--chat-url)");
  if (gen.logprobs) throw UsageError("[RemoteChat] logprobs are not available when chats go to another server (--chat-url)");
}

int RemoteChat::in_flight() const {
  std::lock_guard lock(mutex_);
  return running_;
}

void RemoteChat::start(std::vector<ml::ChatMessage> messages, ml::GenerateOptions gen, Done done) {
  {
    std::lock_guard lock(mutex_);
    ++running_;
  }
  std::thread([this, messages = std::move(messages), gen = std::move(gen), done = std::move(done)] {
    ml::GenerateResult r;
    std::exception_ptr error;
    try {
      r = run(messages, gen);
    } catch (...) {
      error = std::current_exception();
    }
    done(std::move(r), error);
    std::lock_guard lock(mutex_);
    if (--running_ == 0) idle_.notify_all();
  }).detach();
}

ml::GenerateResult RemoteChat::run(const std::vector<ml::ChatMessage>& messages, const ml::GenerateOptions& gen) const {
  remote::ChatParams p{.model = config_.model, .max_tokens = gen.max_tokens, .ignore_eos = gen.ignore_eog};
  for (const auto& m : messages) p.messages.emplace_back(m.role, m.content);
  const ml::SamplingOptions& s = gen.sampling;
  p.options = {{"temperature", s.temperature}, {"top_p", s.top_p}, {"seed", s.seed}};
  if (s.presence_penalty != 0.0f) p.options["presence_penalty"] = s.presence_penalty;
  if (s.frequency_penalty != 0.0f) p.options["frequency_penalty"] = s.frequency_penalty;
  if (!gen.stop.empty()) p.options["stop"] = gen.stop;

  ml::GenerateResult r;
  uint32_t index = 0;
  const uint64_t t0 = now_ns();
  uint64_t t_first = 0;
  bool cancelled = false;
  std::size_t dropped = 0;
  p.on_content = [&](std::string_view piece) {
    if (index == 0) t_first = now_ns();
    // id 0: a token whose id the server does not send (the final event alone has -1)
    if (gen.ring && !gen.ring->try_push({.index = index, .id = 0, .text = std::string(piece)})) ++dropped;
    ++index;
    if ((gen.cancel && gen.cancel->load()) || stopping_.load()) {
      cancelled = true;
      return false;
    }
    return true;
  };
  auto client = client_for(config_);
  const remote::ChatResult c = client.chat(p);
  if (!c.ok) {
    // The server refused the request (its 4xx is the client's mistake here too); anything else is a bad gateway.
    const bool client_error = c.status >= 400 && c.status < 500 && c.status != 408 && c.status != 429;
    throw RemoteError(client_error ? c.status : 502, client_error ? "invalid_request_error" : "upstream_error",
                      "[RemoteChat] " + config_.url + ": " + c.error);
  }
  const uint64_t t1 = now_ns();
  r.text = c.text;
  r.ring_dropped = dropped;
  r.prompt_tokens = std::max(0, c.prompt_tokens);
  r.tokens.assign(static_cast<std::size_t>(c.completion_tokens >= 0 ? c.completion_tokens : c.tokens), -1);
  r.ttft_ms = t_first ? static_cast<double>(t_first - t0) / 1e6 : static_cast<double>(t1 - t0) / 1e6;
  r.decode_ms = t_first ? static_cast<double>(t1 - t_first) / 1e6 : 0.0;
  r.reason = cancelled                       ? ml::StopReason::cancelled
             : c.finish_reason == "stop"     ? ml::StopReason::end_of_generation
             : c.finish_reason == "length"   ? ml::StopReason::max_tokens
                                             : ml::StopReason::end_of_generation;
  if (gen.ring) gen.ring->try_push({.index = index, .id = -1, .text = {}, .last = true});
  return r;
}

}  // namespace ut::engine
