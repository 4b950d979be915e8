// The ML lane on the timeline: embed -> (search on the host queue) -> generate, chained by events only.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/ml/fixture.h"
#include "timeline/device.h"
#include "workloads/ml/lane.h"

namespace ut::ml {
namespace {

using namespace std::chrono_literals;

TEST(MlLane, EmbedSearchGenerateChainedByEvents) {
  const uint64_t seed = test::fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto dev = Device::create({.backend = "cpu"});
  auto heap = dev->make_heap({.size = 4 << 20, .mode = StorageMode::shared, .label = "B_embed"});
  Embedder embedder(Model::load(test::tiny_embedder_path(), ModelKind::embedder), heap);
  auto gen = std::make_shared<Generator>(Model::load(test::tiny_decoder_path(), ModelKind::decoder));
  MlLane lane(dev);
  auto host = dev->make_queue({.kind = QueueKind::host, .label = "Q_host"});
  auto e_embed = dev->make_event("E_embed"), e_rag = dev->make_event("E_rag"), e_gen = dev->make_event("E_gen");

  // Documents and the question embedded in one job; the "search" picks the document nearest the question.
  auto docs = test::random_sentences(rng, 8);
  auto job = std::make_shared<EmbedJob>();
  job->texts = docs;
  job->texts.push_back(docs[5] + " " + docs[5]);  // the question resembles document 5
  auto cb = lane.queue()->make_command_buffer("embed");
  MlLane::encode_embed(cb, embedder, job).signal(e_embed, 1).commit();

  std::string context;
  std::size_t best = 99;
  host->make_command_buffer("search")
      .wait(e_embed, 1)
      .host_task([&] {
        const auto& r = job->result;
        double best_dot = -2;
        for (std::size_t i = 0; i + 1 < r.count; ++i) {
          double dot = 0;
          for (std::size_t d = 0; d < r.dim; ++d) dot += double(r.row(i)[d]) * r.row(r.count - 1)[d];
          if (dot > best_dot) best_dot = dot, best = i;
        }
        context = docs[best];
      })
      .signal(e_rag, 1)
      .commit();

  RingBuffer<StreamToken> ring(256);
  GenerateOptions o;
  o.sampling.temperature = 0.0f;
  o.max_tokens = 16;
  o.ring = &ring;
  auto out = std::make_shared<GenerateResult>();
  std::string used_context;
  lane.generate(
      gen,
      [&] {
        used_context = context;  // runs after E_rag: the search result is there
        return gen->tokenize_chat({{"system", "Context: " + context}, {"user", "What does it say?"}});
      },
      o, out, e_gen, 1, {{e_rag, 1}});

  // Meanwhile an embedding on the same queue runs between generation steps.
  auto side = std::make_shared<EmbedJob>();
  side->texts = {"interleaved"};
  auto e_side = dev->make_event("E_side");
  auto cb2 = lane.queue()->make_command_buffer("embed.side");
  MlLane::encode_embed(cb2, embedder, side).signal(e_side, 1).commit();

  std::string streamed;
  std::size_t n = 0;
  while (auto t = ring.pop_wait(30s)) {
    streamed += t->text;
    ++n;
    if (t->last) break;
  }
  ASSERT_TRUE(e_gen->wait(1, 30s));
  ASSERT_TRUE(e_side->wait(1, 30s));
  EXPECT_EQ(best, 5u);
  EXPECT_EQ(used_context, docs[5]);
  EXPECT_EQ(out->tokens.size(), 16u);
  EXPECT_EQ(streamed, out->text);
  EXPECT_EQ(n, out->tokens.size() + 1);
  EXPECT_EQ(side->result.count, 1u);
  lane.queue()->wait_idle();
  EXPECT_GE(lane.queue()->stats().completed, 16u);  // one command buffer per step
}

TEST(MlLane, FailedGenerationFailsItsEvent) {
  auto dev = Device::create({.backend = "cpu"});
  auto gen = std::make_shared<Generator>(Model::load(test::tiny_decoder_path(), ModelKind::decoder));
  MlLane lane(dev);
  auto done = dev->make_event("E_gen");
  auto out = std::make_shared<GenerateResult>();
  lane.generate(gen, [] { return std::vector<int32_t>{}; }, {}, out, done, 1);  // empty prompt: UsageError
  EXPECT_THROW(done->wait(1, 10s), std::exception);
  // The generator is usable afterwards.
  auto done2 = dev->make_event("E_gen2");
  GenerateOptions o;
  o.max_tokens = 3;
  lane.generate(gen, [&] { return gen->tokenize_prompt("hello"); }, o, out, done2, 1);
  EXPECT_TRUE(done2->wait(1, 10s));
  EXPECT_EQ(out->tokens.size(), 3u);
}

}  // namespace
}  // namespace ut::ml
