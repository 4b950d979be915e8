// Generator: determinism, streaming order, cancel, stop strings, max tokens, prefix reuse, chunked prefill.
#include <gtest/gtest.h>
#include <llama.h>

#include <atomic>
#include <thread>

#include "tests/ml/fixture.h"
#include "workloads/ml/gen_run.h"
#include "workloads/ml/generator.h"
#include "workloads/ml/synth.h"

namespace ut::ml {
namespace {

using namespace std::chrono_literals;

class GeneratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = test::fresh_seed();
    rng_.seed(seed_);
    model_ = Model::load(test::tiny_decoder_path(), ModelKind::decoder);
  }
  std::string prompt(int words = 8) { return test::random_sentences(rng_, 1, words, words)[0]; }
  static GenerateOptions greedy(int n) {
    GenerateOptions o;
    o.sampling.temperature = 0.0f;
    o.max_tokens = n;
    return o;
  }
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  ModelPtr model_;
};

// Collects a stream on another thread until the final event.
struct Collector {
  explicit Collector(RingBuffer<StreamToken>& ring, std::function<void(const StreamToken&)> on = {})
      : thread([this, &ring, on] {
          while (auto t = ring.pop_wait(10s)) {
            if (on) on(*t);
            got.push_back(std::move(*t));
            if (got.back().last) break;
          }
        }) {}
  ~Collector() { join(); }
  void join() {
    if (thread.joinable()) thread.join();
  }
  std::string text() const {
    std::string s;
    for (auto& t : got) s += t.text;
    return s;
  }
  std::vector<StreamToken> got;
  std::thread thread;
};

TEST_F(GeneratorTest, SameSeedSameTokens) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  const std::string p = prompt();
  GenerateOptions o;
  o.sampling = {.temperature = 0.9f, .top_k = 40, .top_p = 0.95f, .seed = static_cast<uint32_t>(seed_)};
  o.max_tokens = 24;
  Generator a(model_), b(model_);
  auto ra = a.complete(p, o);
  auto rb = b.complete(p, o);
  EXPECT_EQ(ra.tokens, rb.tokens);
  EXPECT_EQ(ra.text, rb.text);
  a.reset();
  EXPECT_EQ(a.complete(p, o).tokens, ra.tokens);
  o.sampling.seed += 1;
  EXPECT_NE(b.complete(p, o).tokens, ra.tokens);
}

TEST_F(GeneratorTest, StreamsTokensInOrderIntoTheRing) {
  RingBuffer<StreamToken> ring(64);
  Collector c(ring);
  auto o = greedy(40);
  o.ring = &ring;
  Generator g(model_);
  auto r = g.complete(prompt(), o);
  c.join();
  ASSERT_EQ(c.got.size(), r.tokens.size() + 1);
  for (std::size_t i = 0; i < c.got.size(); ++i) EXPECT_EQ(c.got[i].index, i);
  for (std::size_t i = 0; i < r.tokens.size(); ++i) EXPECT_EQ(c.got[i].id, r.tokens[i]);
  EXPECT_TRUE(c.got.back().last);
  EXPECT_EQ(c.text(), r.text);
  EXPECT_EQ(r.ring_dropped, 0u);
  EXPECT_GT(r.ttft_ms, 0.0);
}

TEST_F(GeneratorTest, FullRingNeverBlocksAndIsCounted) {
  RingBuffer<StreamToken> ring(4);
  auto o = greedy(20);
  o.ring = &ring;
  Generator g(model_);
  auto r = g.complete(prompt(), o);
  EXPECT_EQ(r.tokens.size(), 20u);
  EXPECT_EQ(r.ring_dropped, 21u - ring.capacity());
}

TEST_F(GeneratorTest, MaxTokens) {
  Generator g(model_);
  for (int n : {1, 7, 33}) {
    auto r = g.complete(prompt(), greedy(n));
    if (r.reason == StopReason::end_of_generation) {
      EXPECT_LE(static_cast<int>(r.tokens.size()), n);
    } else {
      EXPECT_EQ(r.reason, StopReason::max_tokens);
      EXPECT_EQ(static_cast<int>(r.tokens.size()), n);
    }
  }
  // ignore_eog (benchmarks): always exactly max_tokens, none of them an end-of-generation token.
  auto o = greedy(40);
  o.ignore_eog = true;
  auto r = g.complete(prompt(), o);
  EXPECT_EQ(r.reason, StopReason::max_tokens);
  EXPECT_EQ(r.tokens.size(), 40u);
  for (int32_t t : r.tokens) EXPECT_FALSE(model_->is_end_of_generation(t));
}

TEST_F(GeneratorTest, CancelStopsWithinATokenAndFreesTheCache) {
  RingBuffer<StreamToken> ring(4096);
  std::atomic<bool> cancel{false};
  Collector c(ring, [&](const StreamToken& t) {
    if (t.index == 4) cancel.store(true);
  });
  auto o = greedy(3000);
  o.ring = &ring;
  o.cancel = &cancel;
  Generator g(model_);
  auto r = g.complete(prompt(), o);
  c.join();
  EXPECT_EQ(r.reason, StopReason::cancelled);
  EXPECT_LT(r.tokens.size(), 200u);  // stopped promptly, far from 3000
  EXPECT_EQ(g.cached_tokens(), 0);   // KV dropped at once
  EXPECT_TRUE(c.got.back().last);

  // Cancelled before it starts: no token; the generator is usable afterwards.
  std::atomic<bool> early{true};
  auto o2 = greedy(10);
  o2.cancel = &early;
  auto r2 = g.complete(prompt(), o2);
  EXPECT_EQ(r2.reason, StopReason::cancelled);
  EXPECT_TRUE(r2.tokens.empty());
  EXPECT_EQ(g.complete(prompt(), greedy(3)).tokens.size(), 3u);

  // free_on_cancel releases the llama context itself; the next call rebuilds it.
  Generator f(model_, {.free_on_cancel = true});
  auto r3 = f.complete(prompt(), o2);
  EXPECT_EQ(r3.reason, StopReason::cancelled);
  EXPECT_EQ(f.complete(prompt(), greedy(2)).tokens.size(), 2u);
}

TEST_F(GeneratorTest, StopStringEndsTheTextAndIsNeverStreamed) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  const std::string p = prompt();
  Generator g(model_);
  auto full = g.complete(p, greedy(48));
  ASSERT_GT(full.text.size(), 12u);
  // A stop string taken from the middle of what greedy decoding writes.
  const std::size_t at = full.text.size() / 2;
  const std::string stop = full.text.substr(at, 3);
  const std::size_t first = full.text.find(stop);
  g.reset();
  RingBuffer<StreamToken> ring(256);
  Collector c(ring);
  auto o = greedy(48);
  o.stop = {"never-appears-42", stop};
  o.ring = &ring;
  auto r = g.complete(p, o);
  c.join();
  EXPECT_EQ(r.reason, StopReason::stop_string);
  EXPECT_EQ(r.text, full.text.substr(0, first));
  EXPECT_EQ(c.text(), r.text);
  EXPECT_EQ(c.text().find(stop), std::string::npos);
}

TEST_F(GeneratorTest, PrefixIsReusedBetweenTurns) {
  Generator g(model_);
  std::vector<ChatMessage> msgs{{"system", "You answer briefly."}, {"user", prompt(12)}};
  auto r1 = g.chat(msgs, greedy(12));
  EXPECT_EQ(r1.reused_tokens, 0);
  EXPECT_GT(g.cached_tokens(), r1.prompt_tokens);
  msgs.push_back({"assistant", r1.text});
  msgs.push_back({"user", prompt(6)});
  auto r2 = g.chat(msgs, greedy(12));
  EXPECT_GE(r2.reused_tokens, r1.prompt_tokens * 9 / 10);
  EXPECT_LT(r2.reused_tokens, r2.prompt_tokens);
  // The same prompt again re-uses all but the last token.
  g.reset();
  auto a = g.complete("the same words again and again", greedy(5));
  auto b = g.complete("the same words again and again", greedy(5));
  EXPECT_EQ(b.reused_tokens, b.prompt_tokens - 1);
  EXPECT_EQ(a.tokens, b.tokens);
}

TEST_F(GeneratorTest, PrefillIsSplitIntoChunks) {
  std::string long_prompt;
  for (int i = 0; i < 20; ++i) long_prompt += prompt(12) + " ";
  Generator chunked(model_, {.prefill_chunk = 32});
  Generator whole(model_, {.prefill_chunk = 1024});
  auto rc = chunked.complete(long_prompt, greedy(8));
  auto rw = whole.complete(long_prompt, greedy(8));
  ASSERT_GT(rc.prompt_tokens, 100);
  EXPECT_EQ(rc.prefill_chunks, (rc.prompt_tokens + 31) / 32);
  EXPECT_EQ(rw.prefill_chunks, 1);
  EXPECT_EQ(rc.tokens, rw.tokens);  // same math, different batching
}

TEST_F(GeneratorTest, ChatTemplateFromFileOrFallback) {
  Generator g(model_);
  const auto text = g.apply_template({{"user", "hello"}});
  EXPECT_EQ(g.template_name(), "chatml (fallback)");  // the llama-spm vocab has no template
  EXPECT_NE(text.find("<|im_start|>user\nhello<|im_end|>"), std::string::npos) << text;

  // A tiny qwen2 decoder carries the qwen2 vocabulary's own template (and checks the qwen2 tensor layout).
  SynthSpec s = SynthSpec::tiny_decoder();
  s.arch = "qwen2";
  s.vocab = "qwen2";
  s.qkv_bias = true;
  s.name = "tiny qwen2 (random weights)";
  const std::string path = test::temp_dir() + "/tiny-qwen2-random.gguf";
  write_synthetic_model(s, path);
  auto qwen = Model::load(path, ModelKind::decoder);
  ASSERT_TRUE(qwen->chat_template().has_value());
  Generator q(qwen);
  const auto qt = q.apply_template({{"system", "sys"}, {"user", "hi"}});
  EXPECT_EQ(q.template_name(), "model");
  EXPECT_NE(qt.find("<|im_start|>assistant\n"), std::string::npos) << qt;
  auto r = q.chat({{"user", "hi"}}, greedy(4));
  EXPECT_EQ(r.tokens.size(), 4u);
  // <|im_start|> is one special token in this vocabulary.
  EXPECT_EQ(q.tokenize_prompt("<|im_start|>").size(), 1u);
}

// GenRun::sample (ours: arg-max for greedy, the chain over our own candidate array otherwise) against
// llama.cpp's llama_sampler_sample on the same rows of logits, token for token.
TEST_F(GeneratorTest, SamplingMatchesLlamaCppsSampler) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  const auto prompt_ids = model_->tokenize(prompt(12), true, true);
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 256;
  cp.n_batch = 256;
  cp.n_outputs_max = 0;
  llama_context* ctx = llama_init_from_model(model_->native(), cp);
  ASSERT_NE(ctx, nullptr);
  llama_batch b = llama_batch_init(static_cast<int32_t>(prompt_ids.size()), 0, 1);
  for (std::size_t i = 0; i < prompt_ids.size(); ++i) {
    b.token[i] = prompt_ids[i];
    b.pos[i] = static_cast<llama_pos>(i);
    b.n_seq_id[i] = 1;
    b.seq_id[i][0] = 0;
    b.logits[i] = true;  // a row of logits at every position: many different distributions
  }
  b.n_tokens = static_cast<int32_t>(prompt_ids.size());
  ASSERT_EQ(llama_decode(ctx, b), 0);
  for (int variant = 0; variant < 4; ++variant) {
    GenerateOptions o;
    o.ignore_eog = variant % 2 == 1;
    if (variant >= 2) o.sampling = {.temperature = 0.8f, .top_k = 40, .top_p = 0.9f, .min_p = 0.02f, .seed = static_cast<uint32_t>(seed_)};
    else o.sampling.temperature = 0.0f;
    GenRun ours(*model_, prompt_ids, o), theirs(*model_, prompt_ids, o);  // the same chain, seeded alike
    for (int i = 0; i < b.n_tokens; ++i)
      EXPECT_EQ(ours.sample(llama_get_logits_ith(ctx, i)), llama_sampler_sample(theirs.sampler(), ctx, i))
          << "variant " << variant << ", row " << i;
  }
  llama_batch_free(b);
  llama_free(ctx);
}

TEST_F(GeneratorTest, Errors) {
  auto emb = Model::load(test::tiny_embedder_path(), ModelKind::embedder);
  EXPECT_THROW(Generator{emb}, ModelError);
  Generator g(model_, {.n_ctx = 64});
  std::string huge;
  for (int i = 0; i < 20; ++i) huge += prompt(12) + " ";
  EXPECT_THROW(g.complete(huge, greedy(4)), UsageError);
  auto r = g.complete(prompt(4), greedy(200));
  EXPECT_EQ(r.reason, StopReason::context_full);
}

}  // namespace
}  // namespace ut::ml
