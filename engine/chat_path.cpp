// The chat path of the Assistant: embed the question (Q_ml, E_embed) -> search the documents (Q_host, E_rag) ->
// the gate (context ready or soft deadline) -> the prompt joins the batched decode steps on Q_ml.gen.
#include <algorithm>

#include "engine/assistant.h"
#include "timeline/clock.h"
#include "timeline/error.h"

namespace ut::engine {
namespace {

std::string context_prompt(const std::vector<vector::SearchHit>& hits) {
  std::string s = "Use the following context if it helps. Cite sources as [title#chunk].\n";
  for (const auto& h : hits) s += "[" + h.title + "#" + std::to_string(h.ord) + "] " + h.text + "\n";
  return s;
}

}  // namespace

std::vector<vector::SearchHit> choose_sources(std::vector<vector::SearchHit> ranked, std::size_t k,
                                              std::size_t result_window) {
  const auto is_result = [](const vector::SearchHit& h) { return h.source.starts_with(kResultSource); };
  const std::size_t window = std::min(ranked.size(), result_window);
  std::size_t result = ranked.size();  // the best stored result in the window, unless it is among the first k
  for (std::size_t i = 0; i < window; ++i)
    if (is_result(ranked[i])) {
      if (i >= k) result = i;
      break;
    }
  std::vector<vector::SearchHit> out;
  if (result < ranked.size()) out.push_back(std::move(ranked[result]));  // result >= k: not among those below
  for (std::size_t i = 0; i < std::min(k, ranked.size()); ++i) out.push_back(std::move(ranked[i]));
  return out;
}

std::shared_ptr<ChatJob> Assistant::chat(ChatRequest request) {
  if (!can_chat()) throw UsageError("[Assistant::chat] no chat model is loaded (configure chat_model)");
  if (request.messages.empty()) throw UsageError("[Assistant::chat] no messages");
  if (remote_) {
    RemoteChat::check(request.gen);  // the other server counts the context itself
  } else {
    // A prompt that cannot fit is the caller's mistake: say so now, not after admission and retrieval.
    const int n_ctx = generator_->n_ctx();
    const int prompt = static_cast<int>(generator_->tokenize_chat(request.messages).size());
    if (prompt >= n_ctx) throw ml::ContextLengthError("[Assistant::chat]", prompt, n_ctx);
    // Generation stops when the sequence fills its context anyway: ask for no more than is left, or refuse.
    if (request.gen.max_tokens > n_ctx - prompt) {
      if (request.refuse_over_context) throw MaxTokensError(prompt, request.gen.max_tokens, n_ctx);
      request.gen.max_tokens = n_ctx - prompt;
    }
  }
  auto admission = engine_.try_admit();
  if (!admission) return nullptr;
  auto job = std::make_shared<ChatJob>();
  job->admission = std::move(admission);
  job->cpu_hold = budget_->hold(CpuLane::chat);  // background embedding yields its cores from its next step
  // Until its first token the chat has every core: queries wait at their next start, embedding yields (another
  // server generating needs none of them).
  if (!remote_) job->prompt_hold = budget_->hold(CpuLane::prompt);
  const int max_tokens = std::max(1, request.gen.max_tokens);
  job->ring = std::make_shared<RingBuffer<ml::StreamToken>>(static_cast<std::size_t>(max_tokens) + 8);
  job->done = engine_.host_device()->make_event("chat.done");
  auto gate = engine_.host_device()->make_event("chat.gate");
  const uint64_t t0 = now_ns();

  std::string question;
  for (auto it = request.messages.rbegin(); it != request.messages.rend(); ++it)
    if (it->role == "user") {
      question = it->content;
      break;
    }
  const bool retrieve = request.retrieve && embedder_ && !question.empty() && docs_->indexed() > 0;

  std::lock_guard submit(submit_mutex_);
  if (retrieve) {
    auto query = std::make_shared<ml::EmbedJob>(ml::EmbedJob{.texts = {question}});
    const uint64_t v_embed = engine_.next_value(engine_.e_embed());
    auto embed = engine_.ml_queue()->make_command_buffer("embed query");
    embed.host_task([this] { use_chat_threads_for_embedding(); }, "cpu budget");
    ml::MlLane::encode_embed(embed, *embedder_, query).signal(engine_.e_embed(), v_embed).commit();

    const uint64_t v_rag = engine_.next_value(engine_.e_rag());
    auto rag = engine_.host_queue()->make_command_buffer("rag search");
    rag.wait(engine_.e_embed(), v_embed)
        .host_task(
            [this, job, query, t0] {
              const std::size_t k = config_.rag_k;
              job->sources = choose_sources(docs_->search(query->result.row(0), std::max(k, config_.result_window)),
                                            k, config_.result_window);
              job->rag_ms = static_cast<double>(now_ns() - t0) / 1e6;
              job->rag_ready = true;
            },
            "search + context")
        .signal(engine_.e_rag(), v_rag)
        .commit();
    // The gate opens when the context is ready, or at the soft deadline (whichever is first).
    engine_.e_rag()->notify(v_rag, [gate](uint64_t) { gate->signal(1); });
    {
      std::lock_guard lock(deadline_mutex_);
      deadlines_.push_back({std::chrono::steady_clock::now() + config_.rag_deadline, gate, job});
    }
    deadline_cv_.notify_all();
  } else {
    gate->signal(1);
  }

  // The prompt joins the batch when the gate opens (with the context when it arrived in time).
  ml::GenerateOptions o = request.gen;
  o.ring = job->ring.get();
  o.cancel = &job->cancel;
  o.on_first_token = [weak = std::weak_ptr<ChatJob>(job)] {
    if (auto j = weak.lock()) j->prompt_hold.reset();
  };
  ++chats_;
  // Count the outcome and release the admission slot when the answer is complete.
  job->done->notify(1, [this, job](uint64_t) {
    if (job->done->error_at(1)) ++failed_;
    else if (job->result->reason == ml::StopReason::cancelled) ++cancelled_;
    if (job->rag_missed_deadline) ++rag_misses_;
    job->admission.reset();
    job->prompt_hold.reset();
    job->cpu_hold.reset();
  });
  gate->notify(1, [this, job, o, messages = std::move(request.messages)](uint64_t) mutable {
    submit_generation(job, std::move(messages), std::move(o));
  });
  return job;
}

void Assistant::submit_generation(const std::shared_ptr<ChatJob>& job, std::vector<ml::ChatMessage> messages,
                                  ml::GenerateOptions o) {
  try {
    if (job->rag_ready && !job->rag_missed_deadline && !job->sources.empty())
      messages.insert(messages.begin(), ml::ChatMessage{"system", context_prompt(job->sources)});
    const auto done = [job](ml::GenerateResult r, std::exception_ptr error) {
      if (error) {
        job->done->signal_failed(1, error);
        return;
      }
      *job->result = std::move(r);
      job->done->signal(1);
    };
    if (remote_) {  // another server generates; the ring and the events work as for a local answer
      remote_->start(std::move(messages), std::move(o), done);
      return;
    }
    generator_->submit(generator_->tokenize_chat(messages), std::move(o), done);
  } catch (...) {  // a prompt that does not fit, a template failure: this chat fails, the others go on
    job->done->signal_failed(1, std::current_exception());
    return;
  }
  kick_generation();
}

void Assistant::kick_generation() {
  {
    std::lock_guard lock(drive_mutex_);
    if (driving_) return;
    driving_ = true;
  }
  commit_generation_step();
}

void Assistant::commit_generation_step() {
  auto cb = gen_queue_->make_command_buffer("generate.step");
  cb.host_task(
        [this] {
          const int threads = budget_->threads(CpuLane::chat);
          if (threads != generator_->threads()) generator_->set_threads(threads);
          budget_->record(CpuLane::chat, threads);
          generator_->step();
          const ml::BatchStep s = generator_->last_step();
          if (s.sequences == 0) return;
          if (s.prefilled == 0) {
            decode_step_ms_ = decode_step_ms_ > 0 ? 0.8 * decode_step_ms_ + 0.2 * s.ms : s.ms;
          } else if (tuner_) {
            // What the prefill added: decoding chats pay the decode part whatever the step size is.
            const double prefill_ms = s.decoded > 0 ? std::max(0.0, s.ms - decode_step_ms_) : s.ms;
            if (auto c = tuner_->observe_step(prefill_ms, s.decoded + s.prefilled >= generator_->step_tokens()))
              generator_->set_step_tokens(*c);
          }
        },
        "decode batch")
      .on_completed([this](const CommandBuffer&) {
        {
          std::lock_guard lock(drive_mutex_);
          // A submit after this check finds driving_ false and starts the chain again.
          if (!generator_->busy()) {
            driving_ = false;
            return;
          }
        }
        commit_generation_step();
      })
      .commit();
}

int Assistant::prefill_chunk() const { return generator_ ? generator_->step_tokens() : 0; }

std::vector<std::string> Assistant::tuning_log() const {
  std::vector<std::string> out = tuner_ ? tuner_->log() : std::vector<std::string>{};
  if (index_tuner_)
    for (auto& line : index_tuner_->log()) out.push_back(std::move(line));
  return out;
}

double Assistant::step_budget_ms() const { return tuner_ ? tuner_->budget_ms() : 0.0; }

}  // namespace ut::engine
