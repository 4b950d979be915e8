#include "workloads/ml/gen_run.h"

#include <llama.h>

#include <algorithm>
#include <cmath>
#include <utility>

namespace ut::ml {
namespace {

// The chain without the grammar (GenRun keeps the grammar apart: see sample()).
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
  if (opts_.logprobs && (opts_.top_logprobs < 0 || opts_.top_logprobs > 20))
    throw UsageError("[GenRun] top_logprobs must be in 0..20");
  if (!opts_.grammar.empty()) {
    grammar_ = llama_sampler_init_grammar(model_.vocab(), opts_.grammar.c_str(), "root");
    if (!grammar_) throw UsageError("[GenRun] the grammar does not parse");
  }
  sampler_ = make_sampler(opts_.sampling, model_, opts_.ignore_eog);
  greedy_ = opts_.sampling.temperature <= 0.0f && !opts_.sampling.penalized();
  result_.prompt_tokens = static_cast<int>(prompt_.size());
}

GenRun::~GenRun() {
  llama_sampler_free(sampler_);
  if (grammar_) llama_sampler_free(grammar_);
}

int32_t GenRun::draw(const float* logits, bool grammar_first) {
  const int n_vocab = model_.n_vocab();
  if (greedy_ && !grammar_first) {
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
  if (grammar_first) llama_sampler_apply(grammar_, &cur_p);
  llama_sampler_apply(sampler_, &cur_p);
  if (cur_p.selected < 0 || cur_p.selected >= static_cast<int64_t>(cur_p.size))
    throw ModelError("[GenRun::sample] the sampler chain selected no token");
  // Every candidate masked: a grammar that is complete while ignore_eog masks the end (the caller ends the run).
  if (grammar_first && cur_p.data[cur_p.selected].logit == -INFINITY) return -1;
  return cur_p.data[cur_p.selected].id;
}

// llama.cpp's grammar sampler on a one-candidate array: it sets the logit to -inf when the token cannot come next.
bool GenRun::grammar_accepts(int32_t tok, float logit) {
  llama_token_data one{tok, logit, 0.0f};
  llama_token_data_array arr{&one, 1, -1, false};
  llama_sampler_apply(grammar_, &arr);
  return one.logit != -INFINITY;
}

int32_t GenRun::sample(const float* logits) {
  int32_t tok = draw(logits, false);
  if (grammar_ && !grammar_accepts(tok, logits[tok])) {
    // The chain's random number generator moves on the second draw too: a seed still gives the same tokens.
    tok = draw(logits, true);
    if (tok < 0) {  // the grammar is complete and nothing may follow: end as the model would
      const auto& eog = model_.end_of_generation_tokens();
      if (eog.empty()) throw ModelError("[GenRun::sample] the grammar allows no token and the model has no end token");
      pending_lp_.clear();
      return eog.front();
    }
  }
  if (grammar_) llama_sampler_accept(grammar_, tok);
  if (!greedy_) llama_sampler_accept(sampler_, tok);
  if (opts_.logprobs) compute_logprobs(logits, tok);
  return tok;
}

// log p(t) = logit(t) - log(sum_j exp(logit(j))), with the maximum subtracted first so no exp overflows.
void GenRun::compute_logprobs(const float* logits, int32_t tok) {
  const int n_vocab = model_.n_vocab();
  const float mx = *std::max_element(logits, logits + n_vocab);
  double sum = 0.0;
  for (int t = 0; t < n_vocab; ++t) sum += std::exp(static_cast<double>(logits[t] - mx));
  const double lse = static_cast<double>(mx) + std::log(sum);
  auto lp = [&](int32_t t) { return static_cast<float>(static_cast<double>(logits[t]) - lse); };
  TokenLogprob out{tok, model_.token_to_piece(tok), lp(tok), {}};
  const auto k = static_cast<std::size_t>(std::min(opts_.top_logprobs, n_vocab));
  if (k > 0) {
    top_ids_.resize(static_cast<std::size_t>(n_vocab));
    for (int32_t t = 0; t < n_vocab; ++t) top_ids_[static_cast<std::size_t>(t)] = t;
    auto higher = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
    std::partial_sort(top_ids_.begin(), top_ids_.begin() + static_cast<long>(k), top_ids_.end(), higher);
    for (std::size_t i = 0; i < k; ++i) out.top.push_back({top_ids_[i], model_.token_to_piece(top_ids_[i]), lp(top_ids_[i])});
  }
  pending_lp_.assign(1, std::move(out));
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
  if (!opts_.ring->try_push(StreamToken{next_index_++, id, std::move(text), last, std::exchange(unstreamed_lp_, {})}))
    ++result_.ring_dropped;
}

bool GenRun::on_sampled(int32_t tok) {
  if (!prefilled_) {
    prefilled_ = true;
    t_first_ = std::chrono::steady_clock::now();
    result_.ttft_ms = ms_between(t0_, t_first_);
    if (opts_.on_first_token) opts_.on_first_token();
  }
  std::vector<TokenLogprob> lp = std::exchange(pending_lp_, {});
  if (model_.is_end_of_generation(tok)) {
    end(StopReason::end_of_generation);
    return false;
  }
  result_.tokens.push_back(tok);
  if (!lp.empty() && lp[0].id == tok) {  // a token that sample() drew (tests may hand tokens in directly)
    result_.logprobs.push_back(lp[0]);
    unstreamed_lp_ = std::move(lp);  // goes with the token's stream event, or with the final one on a stop string
  }
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
