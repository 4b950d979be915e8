// GenRun's logprobs and its grammar shortcut against independent oracles: the log-softmax recomputed here from
// logits that a separate llama context computes for prompt + answer in one batch, and llama.cpp's own grammar
// sampler applied to the whole vocabulary at every token.
#include <gtest/gtest.h>
#include <llama.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>

#include "tests/ml/fixture.h"
#include "timeline/error.h"
#include "workloads/ml/gen_run.h"
#include "workloads/ml/generator.h"
#include "workloads/ml/json_grammar.h"

namespace ut::ml {
namespace {

class LogprobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = test::fresh_seed();
    rng_.seed(seed_);
    model_ = Model::load(test::tiny_decoder_path(), ModelKind::decoder);
  }
  // A row of logits at every position of `tokens`, decoded in one batch by a context of our own.
  std::vector<std::vector<float>> rows_for(const std::vector<int32_t>& tokens) {
    return test::llama_logits_at_every_position(*model_, tokens);
  }
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  ModelPtr model_;
};

// The oracle's log-softmax in double precision, written from the definition.
std::vector<double> log_softmax(const std::vector<float>& l) {
  double sum = 0.0;
  for (float x : l) sum += std::exp(static_cast<double>(x));
  std::vector<double> out(l.size());
  for (std::size_t i = 0; i < l.size(); ++i) out[i] = static_cast<double>(l[i]) - std::log(sum);
  return out;
}

TEST_F(LogprobsTest, TokenAndTopLogprobsAreTheLogSoftmaxOfTheModelsLogits) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  Generator gen(model_, {.n_ctx = 512});
  const auto prompt = gen.tokenize_prompt(test::random_sentences(rng_, 1, 6, 10)[0]);
  for (int variant = 0; variant < 3; ++variant) {  // greedy, sampled, sampled with penalties
    GenerateOptions o;
    o.max_tokens = 12;
    o.ignore_eog = true;
    o.logprobs = true;
    o.top_logprobs = 1 + static_cast<int>(rng_() % 20);
    o.sampling = {.temperature = variant == 0 ? 0.0f : 1.0f, .seed = static_cast<uint32_t>(rng_())};
    if (variant == 2) o.sampling.presence_penalty = 1.5f;
    gen.reset();
    const auto r = gen.generate(prompt, o);
    ASSERT_EQ(r.logprobs.size(), r.tokens.size());
    std::vector<int32_t> all = prompt;
    all.insert(all.end(), r.tokens.begin(), r.tokens.end());
    const auto rows = rows_for(all);
    for (std::size_t k = 0; k < r.tokens.size(); ++k) {
      const auto oracle = log_softmax(rows[prompt.size() - 1 + k]);  // the row that predicted token k
      const TokenLogprob& lp = r.logprobs[k];
      ASSERT_EQ(lp.id, r.tokens[k]);
      EXPECT_EQ(lp.piece, model_->token_to_piece(lp.id));
      EXPECT_NEAR(lp.logprob, oracle[static_cast<std::size_t>(lp.id)], 2e-3) << "variant " << variant << " token " << k;
      ASSERT_EQ(static_cast<int>(lp.top.size()), o.top_logprobs);
      double mass = 0.0;
      auto sorted = oracle;
      std::nth_element(sorted.begin(), sorted.begin() + o.top_logprobs - 1, sorted.end(), std::greater<>());
      const double kth = sorted[static_cast<std::size_t>(o.top_logprobs - 1)];  // the k-th largest
      for (std::size_t i = 0; i < lp.top.size(); ++i) {
        const auto& t = lp.top[i];
        EXPECT_NEAR(t.logprob, oracle[static_cast<std::size_t>(t.id)], 2e-3);
        EXPECT_GE(t.logprob, kth - 2e-3) << "not among the top " << o.top_logprobs;
        if (i > 0) {
          EXPECT_LE(t.logprob, lp.top[i - 1].logprob);
        }
        EXPECT_LE(t.logprob, 0.0f);
        mass += std::exp(t.logprob);
      }
      EXPECT_LE(mass, 1.0 + 1e-4);
      if (variant == 0) {
        EXPECT_EQ(lp.top[0].id, lp.id) << "greedy takes the most likely token";
      }
    }
  }
}

TEST_F(LogprobsTest, StreamEventsCarryTheirTokensLogprob) {
  Generator gen(model_, {.n_ctx = 256});
  RingBuffer<StreamToken> ring(64);
  GenerateOptions o;
  o.max_tokens = 6;
  o.ignore_eog = true;
  o.logprobs = true;
  o.ring = &ring;
  o.sampling.temperature = 0.0f;
  const auto r = gen.complete(test::random_sentences(rng_, 1, 5, 5)[0], o);
  std::vector<TokenLogprob> streamed;
  while (auto t = ring.try_pop()) streamed.insert(streamed.end(), t->logprobs.begin(), t->logprobs.end());
  ASSERT_EQ(streamed.size(), r.logprobs.size());
  for (std::size_t i = 0; i < streamed.size(); ++i) {
    EXPECT_EQ(streamed[i].id, r.tokens[i]);
    EXPECT_EQ(streamed[i].logprob, r.logprobs[i].logprob);
    EXPECT_TRUE(streamed[i].top.empty());
  }
  o.top_logprobs = 21;
  EXPECT_THROW(gen.complete("x", o), UsageError);
}

// Greedy under a grammar: the drawn-then-checked token must be what llama.cpp's grammar sampler gives when it
// filters the whole vocabulary first, on rows where the unconstrained arg-max is both accepted and rejected.
TEST_F(LogprobsTest, GrammarCheckOfTheDrawnTokenEqualsFilteringTheWholeVocabulary) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  std::vector<int32_t> prompt;
  for (int i = 0; i < 200; ++i) prompt.push_back(static_cast<int32_t>(3 + rng_() % (model_->n_vocab() - 3)));
  const auto rows = rows_for(prompt);
  GenerateOptions o;
  o.sampling.temperature = 0.0f;
  o.grammar = json_object_grammar();
  // A generation that the grammar ends (the object closed) is followed by a fresh one on the next rows.
  std::unique_ptr<GenRun> ours;
  llama_sampler* theirs = nullptr;
  auto fresh = [&] {
    ours = std::make_unique<GenRun>(*model_, prompt, o);
    if (theirs) llama_sampler_free(theirs);
    theirs = llama_sampler_chain_init(llama_sampler_chain_default_params());
    llama_sampler_chain_add(theirs, llama_sampler_init_grammar(model_->vocab(), o.grammar.c_str(), "root"));
    llama_sampler_chain_add(theirs, llama_sampler_init_greedy());
  };
  fresh();
  int kept = 0, redrawn = 0;
  std::vector<llama_token_data> cur;
  for (const auto& row : rows) {
    cur.clear();
    for (int32_t t = 0; t < model_->n_vocab(); ++t) cur.push_back({t, row[static_cast<std::size_t>(t)], 0.0f});
    llama_token_data_array arr{cur.data(), cur.size(), -1, false};
    llama_sampler_apply(theirs, &arr);
    const int32_t want = cur[static_cast<std::size_t>(arr.selected)].id;
    llama_sampler_accept(theirs, want);
    const int32_t got = ours->sample(row.data());
    ASSERT_EQ(got, want) << "after " << kept + redrawn << " tokens";
    const auto argmax = static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
    (got == argmax ? kept : redrawn)++;
    if (model_->is_end_of_generation(got)) fresh();
  }
  llama_sampler_free(theirs);
  EXPECT_GT(redrawn, 0) << "the grammar never rejected the arg-max: the redraw path went untested";
  RecordProperty("kept", kept);
  RecordProperty("redrawn", redrawn);
}

// Sampled under a grammar: every token must be one the grammar allows (checked on the whole vocabulary by a
// grammar sampler of our own that follows the same tokens), and the answer parses once the grammar ends it.
TEST_F(LogprobsTest, SampledTokensUnderAGrammarAreAlwaysAllowed) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  std::vector<int32_t> prompt;
  for (int i = 0; i < 200; ++i) prompt.push_back(static_cast<int32_t>(3 + rng_() % (model_->n_vocab() - 3)));
  const auto rows = rows_for(prompt);
  GenerateOptions o;
  o.sampling = {.temperature = 1.0f, .seed = static_cast<uint32_t>(rng_())};
  o.grammar = json_object_grammar();
  auto ours = std::make_unique<GenRun>(*model_, prompt, o);
  llama_sampler* check = llama_sampler_init_grammar(model_->vocab(), o.grammar.c_str(), "root");
  std::vector<llama_token_data> cur;
  for (const auto& row : rows) {
    const int32_t got = ours->sample(row.data());
    cur.clear();
    for (int32_t t = 0; t < model_->n_vocab(); ++t) cur.push_back({t, row[static_cast<std::size_t>(t)], 0.0f});
    llama_token_data_array arr{cur.data(), cur.size(), -1, false};
    llama_sampler_apply(check, &arr);
    ASSERT_NE(cur[static_cast<std::size_t>(got)].logit, -INFINITY) << "token " << got << " breaks the grammar";
    llama_sampler_accept(check, got);
    if (model_->is_end_of_generation(got)) {  // the object is complete: a fresh generation on the next rows
      ours = std::make_unique<GenRun>(*model_, prompt, o);
      llama_sampler_free(check);
      check = llama_sampler_init_grammar(model_->vocab(), o.grammar.c_str(), "root");
    }
  }
  llama_sampler_free(check);
}

// ignore_eog masks the end token, but a complete grammar allows nothing else: the run ends there, not in an error.
TEST_F(LogprobsTest, ACompleteGrammarEndsTheRunEvenUnderIgnoreEog) {
  Generator gen(model_, {.n_ctx = 256});
  GenerateOptions o;
  o.max_tokens = 40;
  o.ignore_eog = true;
  o.grammar = "root ::= \"{\" \"}\"\n";
  o.sampling = {.temperature = 1.0f, .seed = static_cast<uint32_t>(rng_())};
  const auto r = gen.complete(test::random_sentences(rng_, 1, 4, 4)[0], o);
  EXPECT_EQ(r.reason, StopReason::end_of_generation);
  EXPECT_EQ(r.text, "{}");
}

}  // namespace
}  // namespace ut::ml
