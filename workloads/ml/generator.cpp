#include "workloads/ml/generator.h"

#include <llama.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "workloads/ml/runtime.h"

namespace ut::ml {
namespace {

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

struct SamplerFree {
  void operator()(llama_sampler* s) const noexcept { llama_sampler_free(s); }
};

llama_sampler* make_sampler(const SamplingOptions& s, const Model& model, bool ignore_eog) {
  llama_sampler_chain_params p = llama_sampler_chain_default_params();
  p.no_perf = true;
  llama_sampler* chain = llama_sampler_chain_init(p);
  if (ignore_eog) {
    std::vector<llama_logit_bias> bias;
    for (int32_t t : model.end_of_generation_tokens()) bias.push_back({t, -INFINITY});
    llama_sampler_chain_add(chain, llama_sampler_init_logit_bias(model.n_vocab(), static_cast<int32_t>(bias.size()),
                                                                 bias.data()));
  }
  if (s.temperature <= 0.0f) {
    llama_sampler_chain_add(chain, llama_sampler_init_greedy());
    return chain;
  }
  if (s.top_k > 0) llama_sampler_chain_add(chain, llama_sampler_init_top_k(s.top_k));
  if (s.top_p < 1.0f) llama_sampler_chain_add(chain, llama_sampler_init_top_p(s.top_p, 1));
  if (s.min_p > 0.0f) llama_sampler_chain_add(chain, llama_sampler_init_min_p(s.min_p, 1));
  llama_sampler_chain_add(chain, llama_sampler_init_temp(s.temperature));
  llama_sampler_chain_add(chain, llama_sampler_init_dist(s.seed));
  return chain;
}

// Length of the longest suffix of `text` that is a proper prefix of some stop string.
std::size_t pending_stop_prefix(const std::string& text, const std::vector<std::string>& stops) {
  std::size_t best = 0;
  for (const auto& s : stops)
    for (std::size_t k = std::min(s.size() - 1, text.size()); k > best; --k)
      if (text.compare(text.size() - k, k, s, 0, k) == 0) {
        best = k;
        break;
      }
  return best;
}

}  // namespace

const char* to_string(StopReason r) noexcept {
  switch (r) {
    case StopReason::max_tokens: return "max_tokens";
    case StopReason::end_of_generation: return "end_of_generation";
    case StopReason::stop_string: return "stop_string";
    case StopReason::cancelled: return "cancelled";
    case StopReason::context_full: return "context_full";
  }
  return "?";
}

double GenerateResult::decode_tokens_per_s() const {
  return decode_ms > 0.0 && tokens.size() > 1 ? (static_cast<double>(tokens.size()) - 1.0) * 1000.0 / decode_ms
                                              : 0.0;
}

struct Generator::Run {
  std::vector<int32_t> prompt;
  GenerateOptions opts;
  std::unique_ptr<llama_sampler, SamplerFree> sampler;
  GenerateResult result;
  std::size_t prefill_pos = 0;  // next prompt token to decode
  bool prefilled = false;
  bool done = false;
  std::size_t streamed = 0;     // bytes of result.text already streamed
  uint32_t next_index = 0;
  std::chrono::steady_clock::time_point t0, t_first;
};

Generator::Generator(ModelPtr model, GeneratorOptions opts)
    : model_(std::move(model)), opts_(opts), prefill_chunk_(opts.prefill_chunk) {
  if (!model_) throw UsageError("[Generator::Generator] no model");
  if (model_->kind() != ModelKind::decoder)
    throw ModelError("[Generator::Generator] " + model_->path() + ": is a " + to_string(model_->kind()) +
                     " model, not a decoder");
  if (opts_.prefill_chunk < 1) throw UsageError("[Generator::Generator] prefill_chunk must be >= 1");
  opts_.max_prefill_chunk = std::max(opts_.max_prefill_chunk, opts_.prefill_chunk);
  const int train = model_->n_ctx_train();
  n_ctx_ = train > 0 ? std::min(opts_.n_ctx, train) : opts_.n_ctx;
  template_name_ = model_->chat_template() ? "model" : "chatml (fallback)";
  ensure_context();
}

Generator::~Generator() { release(); }

void Generator::set_prefill_chunk(int tokens) noexcept {
  prefill_chunk_.store(std::clamp(tokens, 1, opts_.max_prefill_chunk), std::memory_order_relaxed);
}

void Generator::ensure_context() {
  if (ctx_) return;
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(n_ctx_);
  cp.n_batch = static_cast<uint32_t>(std::min(opts_.max_prefill_chunk, n_ctx_));
  cp.n_ubatch = std::min<uint32_t>(cp.n_batch, 512);
  cp.n_seq_max = 1;
  cp.n_threads = cp.n_threads_batch = opts_.threads > 0 ? opts_.threads : model_->compute_threads();
  cp.no_perf = true;
  cp.abort_callback = &Generator::abort_cb;
  cp.abort_callback_data = this;
  Runtime::clear_log();
  ctx_ = llama_init_from_model(model_->native(), cp);
  if (!ctx_)
    throw ModelError("[Generator::ensure_context] " + model_->path() + ": llama.cpp could not create a context (" +
                     Runtime::last_log() + ")");
  cached_.clear();
}

void Generator::release() {
  if (ctx_) llama_free(ctx_);
  ctx_ = nullptr;
  cached_.clear();
}

void Generator::reset() {
  if (ctx_) llama_memory_clear(llama_get_memory(ctx_), true);
  cached_.clear();
}

bool Generator::abort_cb(void* self) { return static_cast<Generator*>(self)->cancelled(); }

bool Generator::cancelled() const noexcept {
  if (cancel_.load(std::memory_order_relaxed)) return true;
  return run_ && run_->opts.cancel && run_->opts.cancel->load(std::memory_order_relaxed);
}

std::string Generator::apply_template(const std::vector<ChatMessage>& messages, bool add_assistant) {
  std::vector<llama_chat_message> msgs;
  std::size_t chars = 0;
  for (const auto& m : messages) {
    msgs.push_back({m.role.c_str(), m.content.c_str()});
    chars += m.role.size() + m.content.size();
  }
  const auto model_tmpl = model_->chat_template();
  auto apply = [&](const char* tmpl) -> std::optional<std::string> {
    std::string buf(chars * 2 + 256, '\0');
    int32_t n = llama_chat_apply_template(tmpl, msgs.data(), msgs.size(), add_assistant, buf.data(),
                                          static_cast<int32_t>(buf.size()));
    if (n < 0) return std::nullopt;
    if (static_cast<std::size_t>(n) > buf.size()) {
      buf.resize(static_cast<std::size_t>(n));
      n = llama_chat_apply_template(tmpl, msgs.data(), msgs.size(), add_assistant, buf.data(),
                                    static_cast<int32_t>(buf.size()));
    }
    buf.resize(static_cast<std::size_t>(n));
    return buf;
  };
  if (model_tmpl) {
    if (auto s = apply(model_tmpl->c_str())) {
      template_name_ = "model";
      return *s;
    }
  }
  template_name_ = "chatml (fallback)";
  if (auto s = apply("chatml")) return *s;
  throw ModelError("[Generator::apply_template] " + model_->path() + ": chat template failed");
}

std::vector<int32_t> Generator::tokenize_prompt(const std::string& text) {
  return model_->tokenize(text, /*add_special=*/true, /*parse_special=*/true);
}

std::vector<int32_t> Generator::tokenize_chat(const std::vector<ChatMessage>& messages) {
  return tokenize_prompt(apply_template(messages, true));
}

GenerateResult Generator::chat(const std::vector<ChatMessage>& messages, const GenerateOptions& o) {
  return generate(tokenize_chat(messages), o);
}

GenerateResult Generator::complete(const std::string& prompt, const GenerateOptions& o) {
  return generate(tokenize_prompt(prompt), o);
}

GenerateResult Generator::generate(const std::vector<int32_t>& prompt, const GenerateOptions& o) {
  begin(prompt, o);
  while (step()) {
  }
  return finish();
}

void Generator::begin(std::vector<int32_t> prompt, GenerateOptions o) {
  if (run_ && !run_->done) throw UsageError("[Generator::begin] a generation is still running; finish it first");
  if (prompt.empty()) throw UsageError("[Generator::begin] empty prompt");
  if (static_cast<int>(prompt.size()) >= n_ctx_)
    throw UsageError("[Generator::begin] prompt of " + std::to_string(prompt.size()) +
                     " tokens does not fit the context of " + std::to_string(n_ctx_) + " tokens");
  ensure_context();
  cancel_.store(false, std::memory_order_relaxed);
  run_ = std::make_unique<Run>();
  Run& r = *run_;
  r.t0 = std::chrono::steady_clock::now();
  r.opts = std::move(o);
  r.opts.stop.erase(std::remove_if(r.opts.stop.begin(), r.opts.stop.end(), [](auto& s) { return s.empty(); }),
                    r.opts.stop.end());
  r.prompt = std::move(prompt);
  r.sampler.reset(make_sampler(r.opts.sampling, *model_, r.opts.ignore_eog));
  r.result.prompt_tokens = static_cast<int>(r.prompt.size());

  // Keep the KV of the longest common prefix; at least one prompt token must be decoded for logits.
  std::size_t common = 0;
  while (common < cached_.size() && common < r.prompt.size() && cached_[common] == r.prompt[common]) ++common;
  if (common == r.prompt.size()) --common;
  llama_memory_t mem = llama_get_memory(ctx_);
  if (!llama_memory_seq_rm(mem, 0, static_cast<llama_pos>(common), -1)) {
    llama_memory_clear(mem, true);
    common = 0;
  }
  cached_.resize(common);
  r.prefill_pos = common;
  r.result.reused_tokens = static_cast<int>(common);
  if (r.opts.max_tokens <= 0) end(StopReason::max_tokens);
}

void Generator::decode(const int32_t* tokens, int n, int pos0, bool logits_last) {
  llama_batch b = llama_batch_init(n, 0, 1);
  for (int i = 0; i < n; ++i) {
    b.token[i] = tokens[i];
    b.pos[i] = pos0 + i;
    b.n_seq_id[i] = 1;
    b.seq_id[i][0] = 0;
    b.logits[i] = logits_last && i == n - 1;
  }
  b.n_tokens = n;
  const auto t = std::chrono::steady_clock::now();
  Runtime::clear_log();
  const int32_t rc = llama_decode(ctx_, b);
  llama_batch_free(b);
  run_->result.max_step_ms = std::max(run_->result.max_step_ms, ms_since(t));
  if (rc == 2) return;  // aborted: the caller sees cancelled()
  if (rc != 0) {
    llama_memory_clear(llama_get_memory(ctx_), true);
    cached_.clear();
    throw ModelError("[Generator::decode] " + model_->path() + ": llama_decode returned " + std::to_string(rc) +
                     " (" + Runtime::last_log() + ")");
  }
  cached_.insert(cached_.end(), tokens, tokens + n);
}

void Generator::emit(const std::string& text, int32_t id, bool last) {
  Run& r = *run_;
  if (!r.opts.ring) return;
  StreamToken t{r.next_index++, id, text, last};
  if (!r.opts.ring->try_push(std::move(t))) ++r.result.ring_dropped;
}

void Generator::end(StopReason reason) {
  Run& r = *run_;
  r.result.reason = reason;
  if (reason == StopReason::cancelled) {
    // Free the cache at once; the cancelled turn's state is not reusable.
    if (opts_.free_on_cancel) release();
    else reset();
  }
  if (r.prefilled) r.result.decode_ms = ms_since(r.t_first);
  emit(r.result.text.substr(r.streamed), -1, true);
  r.streamed = r.result.text.size();
  r.done = true;
}

bool Generator::step() {
  if (!run_) throw UsageError("[Generator::step] no generation begun");
  if (run_->done) return false;
  try {
    return step_once();
  } catch (...) {
    run_->done = true;  // a failed run is over; the next begin() starts afresh
    throw;
  }
}

bool Generator::step_once() {
  Run& r = *run_;
  if (cancelled()) {
    end(StopReason::cancelled);
    return false;
  }
  if (!r.prefilled && r.prefill_pos < r.prompt.size()) {
    const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(prefill_chunk()),
                                                r.prompt.size() - r.prefill_pos);
    const bool last_chunk = r.prefill_pos + n == r.prompt.size();
    const auto t = std::chrono::steady_clock::now();
    decode(r.prompt.data() + r.prefill_pos, static_cast<int>(n), static_cast<int>(r.prefill_pos), last_chunk);
    r.result.max_prefill_step_ms = std::max(r.result.max_prefill_step_ms, ms_since(t));
    if (cancelled()) {
      end(StopReason::cancelled);
      return false;
    }
    r.prefill_pos += n;
    ++r.result.prefill_chunks;
    if (!last_chunk) return true;
  }
  // Sample one token from the last logits.
  const int32_t tok = llama_sampler_sample(r.sampler.get(), ctx_, -1);
  if (!r.prefilled) {
    r.prefilled = true;
    r.t_first = std::chrono::steady_clock::now();
    r.result.ttft_ms = std::chrono::duration<double, std::milli>(r.t_first - r.t0).count();
  }
  if (model_->is_end_of_generation(tok)) {
    end(StopReason::end_of_generation);
    return false;
  }
  r.result.tokens.push_back(tok);
  std::string& text = r.result.text;
  const std::size_t before = text.size();
  text += model_->token_to_piece(tok);
  for (const auto& s : r.opts.stop) {
    const std::size_t from = before >= s.size() ? before - s.size() + 1 : 0;
    const std::size_t pos = text.find(s, from);
    if (pos != std::string::npos) {
      text.resize(pos);
      if (r.streamed > text.size()) r.streamed = text.size();
      end(StopReason::stop_string);
      return false;
    }
  }
  const std::size_t safe = text.size() - pending_stop_prefix(text, r.opts.stop);
  emit(safe > r.streamed ? text.substr(r.streamed, safe - r.streamed) : std::string(), tok, false);
  r.streamed = std::max(r.streamed, safe);

  if (static_cast<int>(r.result.tokens.size()) >= r.opts.max_tokens) {
    end(StopReason::max_tokens);
    return false;
  }
  if (static_cast<int>(cached_.size()) + 1 >= n_ctx_) {
    end(StopReason::context_full);
    return false;
  }
  decode(&tok, 1, static_cast<int>(cached_.size()), true);
  if (cancelled()) {
    end(StopReason::cancelled);
    return false;
  }
  return true;
}

GenerateResult Generator::finish() {
  if (!run_) throw UsageError("[Generator::finish] no generation begun");
  while (step()) {
  }
  GenerateResult out = std::move(run_->result);
  run_.reset();
  return out;
}

}  // namespace ut::ml
