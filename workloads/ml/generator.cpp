#include "workloads/ml/generator.h"

#include <llama.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "workloads/ml/cpu_threadpool.h"
#include "workloads/ml/gen_run.h"
#include "workloads/ml/runtime.h"

namespace ut::ml {
namespace {

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
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
  if (ctx_) {
    if (!pool_) pool_ = std::make_unique<CpuThreadpool>(std::max(cp.n_threads, Runtime::threads()));
    pool_->attach(ctx_);
  }
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
  return run_ && run_->cancel_requested();
}

std::string apply_chat_template(const Model& model, const std::vector<ChatMessage>& messages, bool add_assistant,
                                std::string* template_name) {
  std::vector<llama_chat_message> msgs;
  std::size_t chars = 0;
  for (const auto& m : messages) {
    msgs.push_back({m.role.c_str(), m.content.c_str()});
    chars += m.role.size() + m.content.size();
  }
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
  if (const auto model_tmpl = model.chat_template()) {
    if (auto s = apply(model_tmpl->c_str())) {
      if (template_name) *template_name = "model";
      return *s;
    }
  }
  if (template_name) *template_name = "chatml (fallback)";
  if (auto s = apply("chatml")) return *s;
  throw ModelError("[apply_chat_template] " + model.path() + ": chat template failed");
}

std::string Generator::apply_template(const std::vector<ChatMessage>& messages, bool add_assistant) {
  return apply_chat_template(*model_, messages, add_assistant, &template_name_);
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
  if (run_ && !run_->done()) throw UsageError("[Generator::begin] a generation is still running; finish it first");
  if (prompt.empty()) throw UsageError("[Generator::begin] empty prompt");
  if (static_cast<int>(prompt.size()) >= n_ctx_)
    throw ContextLengthError("[Generator::begin]", static_cast<int>(prompt.size()), n_ctx_);
  ensure_context();
  cancel_.store(false, std::memory_order_relaxed);
  run_ = std::make_unique<GenRun>(*model_, std::move(prompt), std::move(o));
  const auto& p = run_->prompt();
  // Keep the KV of the longest common prefix; at least one prompt token must be decoded for logits.
  std::size_t common = 0;
  while (common < cached_.size() && common < p.size() && cached_[common] == p[common]) ++common;
  if (common == p.size()) --common;
  llama_memory_t mem = llama_get_memory(ctx_);
  if (!llama_memory_seq_rm(mem, 0, static_cast<llama_pos>(common), -1)) {
    llama_memory_clear(mem, true);
    common = 0;
  }
  cached_.resize(common);
  run_->prefill_pos = common;
  run_->result().reused_tokens = static_cast<int>(common);
  if (run_->max_tokens() <= 0) end(StopReason::max_tokens);
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
  run_->note_step(ms_since(t), /*prefill=*/!run_->prefilled());
  if (rc == 2) return;  // aborted: the caller sees cancelled()
  if (rc != 0) {
    llama_memory_clear(llama_get_memory(ctx_), true);
    cached_.clear();
    throw ModelError("[Generator::decode] " + model_->path() + ": llama_decode returned " + std::to_string(rc) +
                     " (" + Runtime::last_log() + ")");
  }
  cached_.insert(cached_.end(), tokens, tokens + n);
}

void Generator::end(StopReason reason) {
  if (reason == StopReason::cancelled) {
    // Free the cache at once; the cancelled turn's state is not reusable.
    if (opts_.free_on_cancel) release();
    else reset();
  }
  run_->end(reason);
}

bool Generator::step() {
  if (!run_) throw UsageError("[Generator::step] no generation begun");
  if (run_->done()) return false;
  try {
    return step_once();
  } catch (...) {
    run_->abandon();  // a failed run is over; the next begin() starts afresh
    throw;
  }
}

bool Generator::step_once() {
  GenRun& r = *run_;
  if (cancelled()) {
    end(StopReason::cancelled);
    return false;
  }
  const auto& prompt = r.prompt();
  if (!r.prefilled() && r.prefill_pos < prompt.size()) {
    const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(prefill_chunk()), prompt.size() - r.prefill_pos);
    const bool last_chunk = r.prefill_pos + n == prompt.size();
    decode(prompt.data() + r.prefill_pos, static_cast<int>(n), static_cast<int>(r.prefill_pos), last_chunk);
    if (cancelled()) {
      end(StopReason::cancelled);
      return false;
    }
    r.prefill_pos += n;
    if (!last_chunk) return true;
  }
  // Sample one token from the last logits.
  const int32_t tok = r.sample(llama_get_logits_ith(ctx_, -1));
  if (!r.on_sampled(tok)) return false;
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
  GenerateResult out = std::move(run_->result());
  run_.reset();
  return out;
}

}  // namespace ut::ml
