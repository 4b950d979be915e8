// StepTuner's policy, and the assistant applying it to its generator.
#include "engine/step_tuner.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "engine/assistant.h"
#include "engine/default_models.h"
#include "timeline/error.h"
#include "workloads/ml/runtime.h"

namespace {

using ut::engine::StepTuner;

TEST(StepTuner, HalvesOverBudgetAndGrowsAfterThreeFastGenerations) {
  StepTuner t({.min_chunk = 32, .max_chunk = 256, .step_budget_ms = 20}, 128);
  EXPECT_EQ(t.observe(31.0, 4, 500), 64);          // over budget: halve
  EXPECT_EQ(t.observe(25.0, 8, 500), 32);
  EXPECT_EQ(t.observe(90.0, 16, 500), std::nullopt);  // already at the minimum
  EXPECT_EQ(t.chunk(), 32);
  EXPECT_EQ(t.observe(10.0, 2, 40), std::nullopt);  // within budget: keep
  for (int i = 0; i < 2; ++i) EXPECT_EQ(t.observe(2.0, 4, 500), std::nullopt);  // fast, but not yet 3 in a row
  EXPECT_EQ(t.observe(2.0, 4, 500), 64);
  EXPECT_EQ(t.observe(2.0, 1, 10), std::nullopt);   // a prompt shorter than a chunk says nothing about growing
  EXPECT_EQ(t.observe(2.0, 0, 0), std::nullopt);    // all from the KV cache
  for (int i = 0; i < 9; ++i) t.observe(1.0, 2, 500);
  EXPECT_EQ(t.chunk(), 256);                         // capped
  const auto log = t.log();
  ASSERT_EQ(log.size(), 5u);
  EXPECT_EQ(log[0], "prefill chunk 128 -> 64: longest step 31.0 ms > budget 20 ms");
  EXPECT_THROW(StepTuner({.min_chunk = 0}, 8), ut::UsageError);
  EXPECT_THROW(StepTuner({.grow_below = 0.5}, 8), ut::UsageError);  // a doubled step could pass the budget: flapping
}

// The assistant's embedding-batch tuner on work whose time is linear in the batch (9 ms a chunk, a 40 ms budget):
// it settles at the largest batch that fits (4), one slow batch does not halve it, and from 2 it grows back.
TEST(StepTuner, EmbeddingBatchSettlesAtTheLargestBatchThatFits) {
  ut::engine::StepTunerConfig c = ut::engine::AssistantConfig{}.index_tuning;
  c.step_budget_ms = 40;
  StepTuner t(c, c.max_chunk);
  const auto run = [&](int steps) {
    for (int i = 0; i < steps; ++i) t.observe_step(9.0 * t.chunk(), true);
  };
  run(20);
  EXPECT_EQ(t.chunk(), 4);
  t.observe_step(44.0, true);  // one batch of long chunks
  run(1);
  EXPECT_EQ(t.chunk(), 4);
  t.observe_step(44.0, true);
  t.observe_step(44.0, true);  // two in a row: halve
  EXPECT_EQ(t.chunk(), 2);
  run(3);  // 18 ms < 0.47 x 40: a doubled batch still fits
  EXPECT_EQ(t.chunk(), 4);
}

// With a budget no step can meet, one chat with a prompt of several steps halves the step size at every
// prefill step down to the minimum. The CPU budget applies where the model runs on the CPU, tuning.step_budget_ms
// where ggml put it on a GPU (the GPU check runs this suite with UT_ML_DEVICE=cuda): neither can be met.
TEST(StepTuner, AssistantRetunesItsGenerator) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / ("ut_tuner_" + std::to_string(std::random_device{}()));
  std::filesystem::create_directories(dir);
  const char* d = std::getenv("UT_MODELS_DIR");
  const auto models = ut::engine::default_models(d && *d ? d : (std::filesystem::temp_directory_path() / "ut-test-models").string());
  {
    ut::engine::Engine eng({.backend = "cpu"});
    ut::engine::Assistant ai(eng, {.chat_model = models.decoder, .db_path = (dir / "t.duckdb").string(),
                                   .parallel = 2,
                                   .prefill_chunk = 16,
                                   .cpu_step_budget_ms = 1e-6,
                                   .tuning = {.min_chunk = 4, .max_chunk = 64, .step_budget_ms = 2e-6}});
    const bool gpu = !ut::ml::Runtime::gpu_name().empty();  // the model went where the ML lane's device is
    EXPECT_DOUBLE_EQ(ai.step_budget_ms(), gpu ? 2e-6 : 1e-6);
    EXPECT_EQ(ai.prefill_chunk(), 16);
    std::string question;
    for (int i = 0; i < 40; ++i) question += "word" + std::to_string(i) + " ";
    auto job = ai.chat({.messages = {{"user", question}}, .gen = {.max_tokens = 4}, .retrieve = false});
    ASSERT_TRUE(job);
    job->wait();
    EXPECT_EQ(ai.prefill_chunk(), 4);
    const auto log = ai.tuning_log();
    ASSERT_EQ(log.size(), 2u);
    EXPECT_NE(log[0].find("prefill chunk 16 -> 8"), std::string::npos) << log[0];
    EXPECT_NE(log[1].find("prefill chunk 8 -> 4"), std::string::npos) << log[1];
  }
  std::filesystem::remove_all(dir);
}

// confirm_over = 2: one slow step (a spike) changes nothing; two in a row halve; a fast step in between resets.
TEST(StepTuner, ConfirmOverLetsOneSpikePass) {
  StepTuner t({.min_chunk = 32, .max_chunk = 2048, .step_budget_ms = 20, .confirm_over = 2}, 2048);
  EXPECT_EQ(t.observe_step(78.0, true), std::nullopt);
  EXPECT_EQ(t.observe_step(4.0, true), std::nullopt);
  EXPECT_EQ(t.observe_step(30.0, true), std::nullopt);
  EXPECT_EQ(t.observe_step(31.0, true), 1024);
  EXPECT_EQ(t.chunk(), 1024);
  EXPECT_THROW(StepTuner({.confirm_over = 0}, 64), ut::UsageError);
}

TEST(StepTuner, StepsOfAnyKindShareThePolicy) {
  StepTuner t({.min_chunk = 1, .max_chunk = 32, .step_budget_ms = 20, .what = "embedding batch"}, 32);
  EXPECT_EQ(t.observe_step(45.0, true), 16);
  EXPECT_EQ(t.observe_step(30.0, false), 8);  // a short batch over budget still halves
  for (int i = 0; i < 5; ++i) EXPECT_EQ(t.observe_step(1.0, false), std::nullopt);  // short batches never grow it
  EXPECT_EQ(t.observe_step(1.0, true), std::nullopt);
  EXPECT_EQ(t.observe_step(1.0, true), std::nullopt);
  EXPECT_EQ(t.observe_step(1.0, true), 16);
  ASSERT_EQ(t.log().size(), 3u);
  EXPECT_EQ(t.log()[0], "embedding batch 32 -> 16: longest step 45.0 ms > budget 20 ms");
}

// With a budget no batch can meet, background indexing shrinks its batch to the minimum, every document still
// gets embedded, and the Governor's cap still bounds the batch from above.
TEST(StepTuner, AssistantShrinksItsEmbeddingBatch) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / ("ut_tuner_b" + std::to_string(std::random_device{}()));
  std::filesystem::create_directories(dir);
  const char* d = std::getenv("UT_MODELS_DIR");
  const auto models = ut::engine::default_models(d && *d ? d : (std::filesystem::temp_directory_path() / "ut-test-models").string());
  {
    ut::engine::Engine eng({.backend = "cpu"});
    // Neither budget can be met: the CPU one (the embedder on the CPU) nor index_tuning's own (on a GPU).
    ut::engine::Assistant ai(eng, {.embed_model = models.embedder, .db_path = (dir / "t.duckdb").string(),
                                   .cpu_step_budget_ms = 1e-6,
                                   .index_tuning = {.min_chunk = 2, .max_chunk = 16, .step_budget_ms = 2e-6,
                                                    .what = "embedding batch"}});
    EXPECT_EQ(ai.index_batch_size(), 16u);
    std::mt19937 rng(std::random_device{}());
    for (int doc = 0; doc < 6; ++doc) {
      std::string body;
      for (int w = 0; w < 400; ++w) body += "w" + std::to_string(rng() % 5000) + (w % 40 == 39 ? ".\n\n" : " ");
      ai.docs()->create("doc " + std::to_string(doc), body);
    }
    ai.schedule_indexing();
    ASSERT_TRUE(ai.wait_indexed(std::chrono::seconds(120)));
    EXPECT_EQ(ai.index_batch_size(), 2u);
    const auto log = ai.tuning_log();
    ASSERT_GE(log.size(), 3u);  // 16 -> 8 -> 4 -> 2
    EXPECT_NE(log[0].find("embedding batch 16 -> 8"), std::string::npos) << log[0];
    ai.set_index_batch(1);  // memory pressure caps it below the tuner
    EXPECT_EQ(ai.index_batch_size(), 1u);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
