#include "workloads/ml/batched_generator.h"

#include <llama.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <thread>

#include "workloads/ml/cpu_threadpool.h"
#include "workloads/ml/gen_run.h"
#include "workloads/ml/runtime.h"

namespace ut::ml {

// A few persistent threads that, with the caller, run fn(0..n-1): sampling a step's generations. Sampling a
// 150k-token vocabulary costs ~0.3 ms of CPU a generation; serial, it would be most of a 16-chat GPU step.
class BatchedGenerator::SamplePool {
 public:
  explicit SamplePool(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~SamplePool() {
    {
      std::lock_guard lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void run(int n, const std::function<void(int)>& fn) {
    if (threads_.empty() || n <= 1) {
      for (int i = 0; i < n; ++i) fn(i);
      return;
    }
    {
      std::lock_guard lock(m_);
      fn_ = &fn;
      n_ = n;
      next_ = 0;
      busy_ = static_cast<int>(threads_.size());
      error_ = nullptr;
      ++round_;
    }
    cv_.notify_all();
    work();
    std::unique_lock lock(m_);
    done_cv_.wait(lock, [&] { return busy_ == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void loop() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock lock(m_);
        cv_.wait(lock, [&] { return stop_ || round_ != seen; });
        if (stop_) return;
        seen = round_;
      }
      work();
      std::lock_guard lock(m_);
      if (--busy_ == 0) done_cv_.notify_all();
    }
  }
  void work() {
    for (int i; (i = next_.fetch_add(1)) < n_;) {
      try {
        (*fn_)(i);
      } catch (...) {
        std::lock_guard lock(m_);
        if (!error_) error_ = std::current_exception();
      }
    }
  }

  std::mutex m_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int)>* fn_ = nullptr;  // set under m_ before round_ moves; read by workers after
  int n_ = 0;
  std::atomic<int> next_{0};
  int busy_ = 0;
  uint64_t round_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
  std::vector<std::thread> threads_;
};

BatchedGenerator::BatchedGenerator(ModelPtr model, BatchedGeneratorOptions opts)
    : model_(std::move(model)), step_tokens_(opts.step_tokens) {
  if (!model_) throw UsageError("[BatchedGenerator::BatchedGenerator] no model");
  if (model_->kind() != ModelKind::decoder)
    throw ModelError("[BatchedGenerator::BatchedGenerator] " + model_->path() + ": is a " +
                     to_string(model_->kind()) + " model, not a decoder");
  if (opts.slots < 1) throw UsageError("[BatchedGenerator::BatchedGenerator] slots must be >= 1");
  if (opts.step_tokens <= opts.slots)
    throw UsageError("[BatchedGenerator::BatchedGenerator] step_tokens must be > slots (every running chat "
                     "decodes one token per step, and prefill needs room)");
  const int train = model_->n_ctx_train();
  n_ctx_ = train > 0 ? std::min(opts.n_ctx, train) : opts.n_ctx;
  max_step_tokens_ = std::max(opts.max_step_tokens, opts.step_tokens);

  llama_context_params cp = llama_context_default_params();
  cp.n_seq_max = static_cast<uint32_t>(opts.slots);
  cp.n_ctx = static_cast<uint32_t>(n_ctx_) * cp.n_seq_max;
  cp.kv_unified = opts.unified_kv;
  cp.n_batch = static_cast<uint32_t>(max_step_tokens_);
  cp.n_ubatch = std::min<uint32_t>(cp.n_batch, 512);
  cp.n_outputs_max = cp.n_seq_max;  // logits only for each sequence's last token: keeps the output buffers small
  cp.n_threads = cp.n_threads_batch = threads_ = opts.threads > 0 ? opts.threads : model_->compute_threads();
  cp.no_perf = true;
  Runtime::clear_log();
  ctx_ = llama_init_from_model(model_->native(), cp);
  if (ctx_) {
    pool_ = std::make_unique<CpuThreadpool>(std::max(threads_, Runtime::threads()));
    pool_->attach(ctx_);
  }
  if (!ctx_)
    throw ModelError("[BatchedGenerator::BatchedGenerator] " + model_->path() +
                     ": llama.cpp could not create a context (" + Runtime::last_log() + ")");
  n_ctx_ = std::min<int>(n_ctx_, static_cast<int>(llama_n_ctx_seq(ctx_)));
  const int helpers = std::min({opts.slots, static_cast<int>(std::thread::hardware_concurrency()), 8}) - 1;
  sample_pool_ = std::make_unique<SamplePool>(std::max(0, helpers));
  slots_.resize(static_cast<std::size_t>(opts.slots));
  for (std::size_t i = 0; i < slots_.size(); ++i) slots_[i].seq = static_cast<int>(i);
}

BatchedGenerator::~BatchedGenerator() { llama_free(ctx_); }

std::vector<int32_t> BatchedGenerator::tokenize_chat(const std::vector<ChatMessage>& messages) {
  return model_->tokenize(apply_chat_template(*model_, messages), /*add_special=*/true, /*parse_special=*/true);
}

void BatchedGenerator::set_threads(int n) {
  threads_ = std::max(1, n);
  llama_set_n_threads(ctx_, threads_, threads_);
}

void BatchedGenerator::set_step_tokens(int tokens) noexcept {
  step_tokens_.store(std::clamp(tokens, slots() + 1, max_step_tokens_), std::memory_order_relaxed);
}

void BatchedGenerator::submit(std::vector<int32_t> prompt, GenerateOptions o, Done done) {
  if (prompt.empty()) throw UsageError("[BatchedGenerator::submit] empty prompt");
  if (static_cast<int>(prompt.size()) >= n_ctx_)
    throw ContextLengthError("[BatchedGenerator::submit]", static_cast<int>(prompt.size()), n_ctx_);
  if (!done) throw UsageError("[BatchedGenerator::submit] no completion function");
  std::lock_guard lock(mutex_);
  waiting_.push_back({std::move(prompt), std::move(o), std::move(done)});
}

bool BatchedGenerator::busy() const {
  if (running() > 0) return true;
  std::lock_guard lock(mutex_);
  return !waiting_.empty();
}

int BatchedGenerator::waiting() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(waiting_.size());
}

void BatchedGenerator::clear_sequence(Slot& s) {
  llama_memory_seq_rm(llama_get_memory(ctx_), s.seq, -1, -1);
  s.cached.clear();
}

// Waiting generations take free slots; each the one whose cache shares the longest prefix with its prompt.
void BatchedGenerator::admit() {
  std::lock_guard lock(mutex_);
  while (!waiting_.empty()) {
    Slot* best = nullptr;
    std::size_t best_common = 0;
    const auto& prompt = waiting_.front().prompt;
    for (auto& s : slots_) {
      if (s.run) continue;
      std::size_t common = 0;
      while (common < s.cached.size() && common < prompt.size() && s.cached[common] == prompt[common]) ++common;
      if (!best || common > best_common) {
        best = &s;
        best_common = common;
      }
    }
    if (!best) return;
    Pending p = std::move(waiting_.front());
    waiting_.pop_front();
    if (best_common == p.prompt.size()) --best_common;  // at least one prompt token is decoded, for logits
    if (!llama_memory_seq_rm(llama_get_memory(ctx_), best->seq, static_cast<llama_pos>(best_common), -1)) {
      clear_sequence(*best);
      best_common = 0;
    }
    best->cached.resize(best_common);
    best->run = std::make_unique<GenRun>(*model_, std::move(p.prompt), std::move(p.opts));
    best->run->prefill_pos = best_common;
    best->run->result().reused_tokens = static_cast<int>(best_common);
    best->done = std::move(p.done);
    best->next = -1;
    best->started = ++admitted_;
    running_.fetch_add(1, std::memory_order_relaxed);
  }
}

void BatchedGenerator::finish(Slot& s, std::vector<Finished>& out, std::exception_ptr error) {
  if (error) {
    s.run->abandon();
    clear_sequence(s);  // the KV of a failed batch is not trustworthy
  } else if (s.run->result().reason == StopReason::cancelled) {
    clear_sequence(s);  // free the cells at once; a cancelled turn is not reused
  }
  out.push_back({std::move(s.done), std::move(s.run->result()), error});
  s.run.reset();
  s.done = nullptr;
  s.next = -1;
  running_.fetch_sub(1, std::memory_order_relaxed);
}

// Ends the generations that must stop before this step decodes: cancelled, out of tokens, or out of context.
void BatchedGenerator::end_stopped(std::vector<Finished>& finished) {
  for (auto& s : slots_) {
    if (!s.run) continue;
    if (s.run->cancel_requested()) {
      s.run->end(StopReason::cancelled);
      finish(s, finished);
    } else if (s.run->max_tokens() <= 0) {
      s.run->end(StopReason::max_tokens);
      finish(s, finished);
    } else if (s.next >= 0 && static_cast<int>(s.cached.size()) + 1 >= n_ctx_) {
      s.run->end(StopReason::context_full);
      finish(s, finished);
    }
  }
}

// The batch: decode tokens, then prefill chunks oldest first, within the step's token budget.
std::vector<BatchedGenerator::BatchEntry> BatchedGenerator::plan_batch() {
  std::vector<BatchEntry> entries;
  std::vector<Slot*> prefilling;
  for (auto& s : slots_) {
    if (!s.run) continue;
    if (s.next >= 0) entries.push_back({&s, 1, false});
    else prefilling.push_back(&s);
  }
  std::sort(prefilling.begin(), prefilling.end(), [](Slot* a, Slot* b) { return a->started < b->started; });
  const int budget_total = step_tokens();
  int budget = budget_total - static_cast<int>(entries.size());
  for (Slot* s : prefilling) {
    if (budget <= 0) break;
    const int left = static_cast<int>(s->run->prompt().size() - s->run->prefill_pos);
    const int n = std::min(budget, left);
    entries.push_back({s, n, true});
    budget -= n;
  }
  // In sequence order: with a KV stream per sequence llama.cpp splits a batch into micro-batches of consecutive
  // sequence ids, so an unordered batch costs extra passes.
  std::sort(entries.begin(), entries.end(),
            [](const BatchEntry& a, const BatchEntry& b) { return a.slot->seq < b.slot->seq; });
  return entries;
}

// Writes the entries' tokens into `b` (logits only for the last token of a sequence that is then sampled) and
// counts them in last_.
void BatchedGenerator::fill_batch(llama_batch& b, std::vector<BatchEntry>& entries) {
  int i = 0;
  for (auto& e : entries) {
    Slot& s = *e.slot;
    const int pos0 = static_cast<int>(s.cached.size());
    const int32_t* toks = e.prefill ? s.run->prompt().data() + s.run->prefill_pos : &s.next;
    const bool completes = !e.prefill || s.run->prefill_pos + static_cast<std::size_t>(e.n) == s.run->prompt().size();
    for (int k = 0; k < e.n; ++k, ++i) {
      b.token[i] = toks[k];
      b.pos[i] = pos0 + k;
      b.n_seq_id[i] = 1;
      b.seq_id[i][0] = s.seq;
      b.logits[i] = completes && k == e.n - 1;
      if (b.logits[i]) e.logits = i;
    }
    if (e.prefill) last_.prefilled += e.n;
    else ++last_.decoded;
  }
}

// One llama_decode over the batch, timed to completion; a failure ends every generation in it.
void BatchedGenerator::decode_and_sample(std::vector<BatchEntry>& entries, std::vector<Finished>& finished) {
  int total = 0;
  for (auto& e : entries) total += e.n;
  llama_batch b = llama_batch_init(total, 0, 1);
  fill_batch(b, entries);
  b.n_tokens = total;
  last_.sequences = static_cast<int>(entries.size());
  const auto t0 = std::chrono::steady_clock::now();
  Runtime::clear_log();
  int32_t rc = llama_decode(ctx_, b);
  llama_batch_free(b);
  if (rc == 0) llama_synchronize(ctx_);  // on a GPU llama_decode only queues the work: time the whole step
  last_.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (rc != 0) {
    auto error = std::make_exception_ptr(
        ModelError("[BatchedGenerator::step] " + model_->path() + ": llama_decode returned " + std::to_string(rc) +
                   " for " + std::to_string(total) + " tokens of " + std::to_string(entries.size()) +
                   " generations (" + Runtime::last_log() + ")"));
    for (auto& e : entries) finish(*e.slot, finished, error);
  } else {
    sample_and_advance(entries, finished);
  }
}

// After a successful decode: every generation with logits samples its next token, each slot's cache records
// what was decoded, and generations that stop on their token end.
void BatchedGenerator::sample_and_advance(std::vector<BatchEntry>& entries, std::vector<Finished>& finished) {
  const auto t_sample = std::chrono::steady_clock::now();
  // Rows of logits first (llama.cpp reorders its outputs on the first access), then every generation
  // samples its own row, in parallel: each touches only its GenRun.
  std::vector<BatchEntry*> sampling;
  std::vector<const float*> rows;
  for (auto& e : entries)
    if (e.logits >= 0) {
      sampling.push_back(&e);
      rows.push_back(llama_get_logits_ith(ctx_, e.logits));
    }
  std::vector<int32_t> toks(sampling.size());
  std::vector<std::exception_ptr> errors(sampling.size());
  sample_pool_->run(static_cast<int>(sampling.size()), [&](int k) {
    const auto j = static_cast<std::size_t>(k);
    try {
      toks[j] = sampling[j]->slot->run->sample(rows[j]);
    } catch (...) {  // that generation fails; the others and the caches (decoded either way) go on
      errors[j] = std::current_exception();
    }
  });
  for (auto& e : entries) {
    Slot& s = *e.slot;
    GenRun& r = *s.run;
    r.note_step(last_.ms, e.prefill);
    if (e.prefill) {
      s.cached.insert(s.cached.end(), r.prompt().begin() + static_cast<long>(r.prefill_pos),
                      r.prompt().begin() + static_cast<long>(r.prefill_pos) + e.n);
      r.prefill_pos += static_cast<std::size_t>(e.n);
    } else {
      s.cached.push_back(s.next);
    }
  }
  for (std::size_t j = 0; j < sampling.size(); ++j) {
    Slot& s = *sampling[j]->slot;
    if (errors[j]) finish(s, finished, errors[j]);
    else if (s.run->on_sampled(toks[j])) s.next = toks[j];
    else finish(s, finished);
  }
  last_.sample_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_sample).count();
}

bool BatchedGenerator::step() {
  admit();
  std::vector<Finished> finished;
  end_stopped(finished);
  std::vector<BatchEntry> entries = plan_batch();
  last_ = {};
  if (!entries.empty()) decode_and_sample(entries, finished);
  for (auto& f : finished) {
    try {
      f.done(std::move(f.result), f.error);
    } catch (const std::exception& e) {  // a completion must not stop the other generations
      std::fprintf(stderr, "[BatchedGenerator::step] a completion function threw: %s\n", e.what());
    }
  }
  return busy();
}

}  // namespace ut::ml
