// Generator: chat-templated, sampled text generation with tokens streamed into a RingBuffer, cancellation,
// prompt-prefix reuse between turns and chunked prefill.
//
//   auto model = ut::ml::Model::load("qwen.gguf", ut::ml::ModelKind::decoder);
//   ut::ml::Generator gen(model, {.n_ctx = 4096, .prefill_chunk = 256});
//   ut::RingBuffer<ut::ml::StreamToken> ring(1024);
//   std::atomic<bool> cancel{false};
//   ut::ml::GenerateOptions o{.sampling = {.temperature = 0.7f, .top_k = 40, .top_p = 0.9f, .seed = 7},
//                             .max_tokens = 128, .stop = {"\n\n"}, .ring = &ring, .cancel = &cancel};
//   auto r = gen.chat({{"system", "Answer briefly."}, {"user", "Hi"}}, o);   // or complete("text", o)
//   // another thread: while (auto t = ring.pop_wait(50ms)) { show(t->text); if (t->last) break; }
//   // stepwise (what the timeline lane does, one step per command buffer):
//   gen.begin(gen.tokenize_chat(msgs), o); while (gen.step()) {} auto r2 = gen.finish();
//
// Contract
// - Chat template: the one stored in the model file (tokenizer.chat_template) through llama.cpp's
//   llama_chat_apply_template; when the file has none, or llama.cpp does not recognise it, "chatml" is used and
//   template_name() says "chatml (fallback)".
// - Sampling: llama.cpp's sampler chain penalties -> top-k -> top-p -> min-p -> temperature -> seeded dist;
//   temperature <= 0 is greedy (after the penalties). Same model, prompt, options and seed -> the same tokens.
// - Streaming: one StreamToken per generated token, in order (index 0, 1, ...), then one with last == true.
//   Text that might be the start of a stop string is held back until it is known not to be; the stop string
//   itself is never streamed nor kept in the result. A full ring never blocks generation: the event is
//   dropped (counted in ring_dropped) and the result still has the whole text. Size the ring > max_tokens + 1.
// - Cancellation: *cancel (or cancel()) is checked before every token and inside llama_decode (abort
//   callback), so a prefill chunk stops too. A cancelled run clears the KV cache at once; with
//   free_on_cancel the llama context itself is freed (rebuilt on the next call).
// - Prefix reuse: the KV cache of the previous call's prompt + generated tokens is kept; the next prompt
//   re-uses the longest common token prefix (result.reused_tokens) and computes only the rest.
// - Prefill is decoded in chunks of prefill_chunk tokens; each chunk is one step().
// - One generation at a time per Generator; not thread-safe (the lane runs it on one queue).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "timeline/ring_buffer.h"
#include "workloads/ml/model.h"

struct llama_context;

namespace ut::ml {

class CpuThreadpool;

class GenRun;

// A token's log-probability under the model: the log-softmax of the raw logits, before penalties, temperature,
// top-k/top-p and any grammar (what vLLM returns by default), with the most likely alternatives.
struct TopLogprob {
  int32_t id = -1;
  std::string piece;  // the token's bytes (may be part of a UTF-8 character)
  float logprob = 0.0f;
};
struct TokenLogprob {
  int32_t id = -1;
  std::string piece;
  float logprob = 0.0f;
  std::vector<TopLogprob> top;  // GenerateOptions::top_logprobs of them, most likely first
};

struct StreamToken {
  uint32_t index = 0;  // 0, 1, 2, ... per generation
  int32_t id = -1;     // token id (-1 on the final event)
  std::string text;    // text released with this token (may be empty while a stop string is pending)
  bool last = false;   // final event: the generation ended (see GenerateResult::reason)
  std::vector<TokenLogprob> logprobs;  // with GenerateOptions::logprobs: this token's (one entry)
};

struct SamplingOptions {
  float temperature = 0.8f;  // <= 0: greedy
  int top_k = 40;            // <= 0: off
  float top_p = 0.95f;       // >= 1: off
  float min_p = 0.0f;        // <= 0: off
  uint32_t seed = 42;
  // llama.cpp's penalties sampler over the last penalty_last_n generated tokens: OpenAI's presence and
  // frequency penalties (0: off) and llama-server's repeat_penalty (1: off).
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  float repeat_penalty = 1.0f;
  int penalty_last_n = 64;
  bool penalized() const noexcept {
    return penalty_last_n != 0 && (presence_penalty != 0.0f || frequency_penalty != 0.0f || repeat_penalty != 1.0f);
  }
};

struct GenerateOptions {
  SamplingOptions sampling;
  int max_tokens = 256;
  std::vector<std::string> stop;
  RingBuffer<StreamToken>* ring = nullptr;
  const std::atomic<bool>* cancel = nullptr;
  bool ignore_eog = false;  // benchmarks: end-of-generation tokens are masked out, so max_tokens always run
  // A GBNF grammar (root rule "root", see json_grammar.h) the answer must follow, through llama.cpp's grammar
  // sampler: end-of-generation becomes possible only where the grammar is complete. Empty: free text.
  // Each token is drawn without the grammar first and kept when the grammar accepts it; only a rejected token
  // makes the grammar filter the whole vocabulary before drawing again (what llama.cpp's server does).
  std::string grammar;
  // Each generated token's log-probability (TokenLogprob) and the top_logprobs (0..20) most likely tokens.
  bool logprobs = false;
  int top_logprobs = 0;
  // Called once, on the generating thread, when the first token is sampled (the engine's CPU budget then gives the
  // cores that the prompt held back).
  std::function<void()> on_first_token;
};

enum class StopReason { max_tokens, end_of_generation, stop_string, cancelled, context_full };
const char* to_string(StopReason r) noexcept;

struct GenerateResult {
  std::string text;
  std::vector<int32_t> tokens;  // generated tokens (those up to a stop string included)
  std::vector<TokenLogprob> logprobs;  // with GenerateOptions::logprobs: one per entry of tokens
  StopReason reason = StopReason::max_tokens;
  int prompt_tokens = 0;
  int reused_tokens = 0;        // prompt tokens whose KV came from the previous call
  int prefill_chunks = 0;
  double ttft_ms = 0.0;         // begin -> first token sampled
  double decode_ms = 0.0;       // first token -> end
  double max_step_ms = 0.0;     // longest single llama_decode call
  double max_prefill_step_ms = 0.0;  // longest prefill chunk
  std::size_t ring_dropped = 0;
  double decode_tokens_per_s() const;
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct GeneratorOptions {
  int n_ctx = 4096;          // capped at the model's training context
  int prefill_chunk = 256;   // tokens per prefill step
  int max_prefill_chunk = 0; // the most set_prefill_chunk() may set (sizes llama's batch); 0: prefill_chunk
  int threads = 0;           // 0: Runtime::threads()
  bool free_on_cancel = false;
};

// The model's chat template applied to messages (chatml when the model has none llama.cpp knows);
// *template_name, when given, is set to "model" or "chatml (fallback)".
std::string apply_chat_template(const Model& model, const std::vector<ChatMessage>& messages,
                                bool add_assistant = true, std::string* template_name = nullptr);

class Generator {
 public:
  explicit Generator(ModelPtr model, GeneratorOptions opts = {});
  ~Generator();
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;

  std::string apply_template(const std::vector<ChatMessage>& messages, bool add_assistant = true);
  std::vector<int32_t> tokenize_chat(const std::vector<ChatMessage>& messages);
  std::vector<int32_t> tokenize_prompt(const std::string& text);  // BOS as the model wants; specials parsed

  GenerateResult chat(const std::vector<ChatMessage>& messages, const GenerateOptions& o);
  GenerateResult complete(const std::string& prompt, const GenerateOptions& o);
  GenerateResult generate(const std::vector<int32_t>& prompt, const GenerateOptions& o);

  // Stepwise: begin() sets up; step() runs one prefill chunk or one token and returns false when done;
  // finish() returns the result (and may be called once per begin()).
  void begin(std::vector<int32_t> prompt, GenerateOptions o);
  bool step();
  GenerateResult finish();

  void cancel() noexcept { cancel_.store(true, std::memory_order_relaxed); }  // the current run
  void reset();    // forget the cached prefix (clears the KV cache)
  // Tokens per prefill step from the next chunk on, clamped to [1, max_prefill_chunk]; any thread, any time.
  void set_prefill_chunk(int tokens) noexcept;
  int prefill_chunk() const noexcept { return prefill_chunk_.load(std::memory_order_relaxed); }
  void release();  // free the llama context now
  int cached_tokens() const noexcept { return static_cast<int>(cached_.size()); }
  int n_ctx() const noexcept { return n_ctx_; }
  const std::string& template_name() const noexcept { return template_name_; }
  const ModelPtr& model() const noexcept { return model_; }

 private:
  void ensure_context();
  bool cancelled() const noexcept;
  bool step_once();
  void decode(const int32_t* tokens, int n, int pos0, bool logits_last);
  void end(StopReason reason);

  ModelPtr model_;
  GeneratorOptions opts_;
  std::atomic<int> prefill_chunk_;
  std::unique_ptr<CpuThreadpool> pool_;  // outlives ctx_ (freed in the destructor body)
  llama_context* ctx_ = nullptr;
  int n_ctx_ = 0;
  std::string template_name_;
  std::vector<int32_t> cached_;  // tokens whose KV is in sequence 0, in order
  std::unique_ptr<GenRun> run_;
  std::atomic<bool> cancel_{false};
  static bool abort_cb(void* self);
};

}  // namespace ut::ml
