#include "workloads/ml/gen_run.h"

#include <llama.h>

#include <algorithm>
#include <cmath>

namespace ut::ml {
namespace {

llama_sampler* make_sampler(const SamplingOptions& s, const Model& model, bool ignore_eog,
                            const std::string& grammar) {
  llama_sampler_chain_params p = llama_sampler_chain_default_params();
  p.no_perf = true;
  llama_sampler* chain = llama_sampler_chain_init(p);
  if (ignore_eog) {
    std::vector<llama_logit_bias> bias;
    for (int32_t t : model.end_of_generation_tokens()) bias.push_back({t, -INFINITY});
    llama_sampler_chain_add(chain, llama_sampler_init_logit_bias(model.n_vocab(), static_cast<int32_t>(bias.size()),
                                                                 bias.data()));
  }
  if (!grammar.empty()) {
    llama_sampler* g = llama_sampler_init_grammar(model.vocab(), grammar.c_str(), "root");
    if (!g) {
      llama_sampler_free(chain);
      throw UsageError("[GenRun] the grammar does not parse");
    }
    llama_sampler_chain_add(chain, g);
  }
  if (s.penalized())
    llama_sampler_chain_add(chain, llama_sampler_init_penalties(model.n_vocab(), s.penalty_last_n, s.repeat_penalty,
                                                                s.frequency_penalty, s.presence_penalty));
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

double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

GenRun::GenRun(const Model& model, std::vector<int32_t> prompt, GenerateOptions o)
    : model_(model), prompt_(std::move(prompt)), opts_(std::move(o)), t0_(std::chrono::steady_clock::now()) {
  std::erase_if(opts_.stop, [](const std::string& s) { return s.empty(); });
  sampler_ = make_sampler(opts_.sampling, model_, opts_.ignore_eog, opts_.grammar);
  result_.prompt_tokens = static_cast<int>(prompt_.size());
}

GenRun::~GenRun() { llama_sampler_free(sampler_); }

int32_t GenRun::sample(const float* logits) {
  const int n_vocab = model_.n_vocab();
  if (opts_.sampling.temperature <= 0.0f && !opts_.sampling.penalized() && opts_.grammar.empty()) {
    int32_t best = -1;
    const auto& eog = model_.end_of_generation_tokens();
    for (int32_t t = 0; t < n_vocab; ++t) {
      if ((best < 0 || logits[t] > logits[best]) &&  // the first maximum, as llama.cpp's greedy sampler
          !(opts_.ignore_eog && std::find(eog.begin(), eog.end(), t) != eog.end()))
        best = t;
    }
    return best;
  }
  cur_.resize(static_cast<std::size_t>(n_vocab));
  for (int32_t t = 0; t < n_vocab; ++t) cur_[static_cast<std::size_t>(t)] = llama_token_data{t, logits[t], 0.0f};
  llama_token_data_array cur_p{cur_.data(), cur_.size(), -1, false};
  llama_sampler_apply(sampler_, &cur_p);
  if (cur_p.selected < 0 || cur_p.selected >= static_cast<int64_t>(cur_p.size))
    throw ModelError("[GenRun::sample] the sampler chain selected no token");
  const int32_t tok = cur_p.data[cur_p.selected].id;
  llama_sampler_accept(sampler_, tok);
  return tok;
}

void GenRun::note_step(double ms, bool prefill) noexcept {
  result_.max_step_ms = std::max(result_.max_step_ms, ms);
  if (prefill) {
    result_.max_prefill_step_ms = std::max(result_.max_prefill_step_ms, ms);
    ++result_.prefill_chunks;
  }
}

void GenRun::emit(std::string text, int32_t id, bool last) {
  if (!opts_.ring) return;
  if (!opts_.ring->try_push(StreamToken{next_index_++, id, std::move(text), last})) ++result_.ring_dropped;
}

bool GenRun::on_sampled(int32_t tok) {
  if (!prefilled_) {
    prefilled_ = true;
    t_first_ = std::chrono::steady_clock::now();
    result_.ttft_ms = ms_between(t0_, t_first_);
  }
  if (model_.is_end_of_generation(tok)) {
    end(StopReason::end_of_generation);
    return false;
  }
  result_.tokens.push_back(tok);
  std::string& text = result_.text;
  const std::size_t before = text.size();
  text += model_.token_to_piece(tok);
  for (const auto& s : opts_.stop) {
    const std::size_t from = before >= s.size() ? before - s.size() + 1 : 0;
    const std::size_t pos = text.find(s, from);
    if (pos != std::string::npos) {
      text.resize(pos);
      streamed_ = std::min(streamed_, text.size());
      end(StopReason::stop_string);
      return false;
    }
  }
  const std::size_t safe = text.size() - pending_stop_prefix(text, opts_.stop);
  emit(safe > streamed_ ? text.substr(streamed_, safe - streamed_) : std::string(), tok, false);
  streamed_ = std::max(streamed_, safe);
  if (generated() >= opts_.max_tokens) {
    end(StopReason::max_tokens);
    return false;
  }
  return true;
}

void GenRun::end(StopReason reason) {
  if (done_) return;
  result_.reason = reason;
  if (prefilled_) result_.decode_ms = ms_between(t_first_, std::chrono::steady_clock::now());
  emit(result_.text.substr(streamed_), -1, true);
  streamed_ = result_.text.size();
  done_ = true;
}

}  // namespace ut::ml
