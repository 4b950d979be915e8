// CoreBudget's split of the cores between the chat, SQL and background embedding lanes, and the assistant
// applying it: background embedding gives its cores to an arriving chat at its next step and takes them back.
#include "engine/core_budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <mutex>
#include <random>
#include <vector>

#include "engine/assistant.h"
#include "engine/default_models.h"

namespace {

using ut::engine::CoreBudget;
using ut::engine::CpuLane;

// The oracle, written from the policy's words rather than from the code: user lanes first, background embedding
// only a spare core, never more threads in all than cores (where there is a core per active lane).
TEST(CoreBudget, NeverOversubscribesAndPutsUsersFirst) {
  std::mt19937 rng(std::random_device{}());
  for (int trial = 0; trial < 200; ++trial) {
    const int cores = 1 + static_cast<int>(rng() % 64);
    CoreBudget b({.cores = cores});
    EXPECT_EQ(b.threads(CpuLane::embed), cores);  // nothing else runs: background gets every core
    const bool chat = rng() % 2, sql = rng() % 2;
    CoreBudget::Hold hc, hs;
    if (chat) hc = b.hold(CpuLane::chat);
    if (sql) hs = b.hold(CpuLane::sql);
    const int users = chat + sql;
    const int c = b.threads(CpuLane::chat), s = b.threads(CpuLane::sql), e = b.threads(CpuLane::embed);
    if (users == 0) {
      EXPECT_EQ(e, cores);
      continue;
    }
    EXPECT_LE(e, 1) << cores << " cores";
    EXPECT_EQ(e, cores - users >= 2 ? 1 : 0) << cores << " cores";
    const int used = (chat ? c : 0) + (sql ? s : 0) + e;
    EXPECT_LE(used, std::max(cores, users)) << cores << " cores, chat " << c << " sql " << s << " embed " << e;
    if (chat) {
      EXPECT_GE(c, 1);
    }
    if (sql) {
      EXPECT_GE(s, 1);
    }
    if (chat && sql) {
      EXPECT_GE(c, s);  // the chat the user waits for comes first
    }
    if (users == 1 && cores >= 3) {
      EXPECT_EQ(used, cores);  // no core left idle
    }
    hc.reset();
    hs.reset();
    EXPECT_EQ(b.threads(CpuLane::embed), cores);  // released: background takes its cores back
  }
}

// A chat waiting for its first token takes every core: a query waits for it at its start (up to the configured
// bound, then runs on one thread), background embedding yields; after the first token the usual split returns.
TEST(CoreBudget, APromptTakesEveryCoreAndAQueryWaitsForItsFirstToken) {
  std::mt19937 rng(std::random_device{}());
  const int cores = 2 + static_cast<int>(rng() % 15);
  CoreBudget b({.cores = cores, .max_wait_ms = 10'000});
  auto chat = b.hold(CpuLane::chat);
  auto sql = b.hold(CpuLane::sql);
  const int shared_chat = b.threads(CpuLane::chat), shared_sql = b.threads(CpuLane::sql);
  auto prompt = b.hold(CpuLane::prompt);
  EXPECT_EQ(b.threads(CpuLane::chat), cores);
  EXPECT_EQ(b.threads(CpuLane::sql), 0);
  EXPECT_EQ(b.threads(CpuLane::embed), 0);
  std::atomic<int> got{-1};
  std::jthread query([&] { got = b.wait_threads(CpuLane::sql); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(got.load(), -1) << "the query started while the prompt held the cores";
  prompt.reset();  // the first token
  query.join();
  EXPECT_EQ(got.load(), shared_sql);
  EXPECT_EQ(b.threads(CpuLane::chat), shared_chat);
  const auto log = b.log();
  EXPECT_NE(log.back().find("prompt done"), std::string::npos) << log.back();

  CoreBudget bounded({.cores = cores, .max_wait_ms = 20});  // a prompt that never ends does not starve SQL
  auto p2 = bounded.hold(CpuLane::prompt);
  auto s2 = bounded.hold(CpuLane::sql);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(bounded.wait_threads(CpuLane::sql), 1);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(20));
}

// A Hold released from two threads at once (a chat's first token and its end) releases its lane once.
TEST(CoreBudget, AHoldReleasedTwiceAtOnceReleasesOnce) {
  CoreBudget b({.cores = 4});
  for (int i = 0; i < 200; ++i) {
    auto keep = b.hold(CpuLane::chat);
    auto h = b.hold(CpuLane::chat);
    std::jthread a([&] { h.reset(); });
    std::jthread c([&] { h.reset(); });
    a.join();
    c.join();
    EXPECT_TRUE(b.active(CpuLane::chat)) << "the second reset released the other hold";
  }
}

// Every hold of a user lane counts as an arrival (what a running background batch compares to stop early); the
// background lane's own holds do not.
TEST(CoreBudget, UserArrivalsCountChatAndSqlHoldsOnly) {
  CoreBudget b({.cores = 2});
  EXPECT_EQ(b.user_arrivals(), 0u);
  auto e = b.hold(CpuLane::embed);
  EXPECT_EQ(b.user_arrivals(), 0u);
  auto c1 = b.hold(CpuLane::chat);
  auto c2 = b.hold(CpuLane::chat);  // a second chat while one runs arrives too
  auto s = b.hold(CpuLane::sql);
  EXPECT_EQ(b.user_arrivals(), 3u);
  c1.reset();
  EXPECT_EQ(b.user_arrivals(), 3u);  // releases do not count
}

TEST(CoreBudget, ReleaseCallbacksLogAndStats) {
  CoreBudget b({.cores = 2});
  std::vector<CpuLane> released;
  const int id = b.on_release([&](CpuLane l) { released.push_back(l); });
  {
    auto h1 = b.hold(CpuLane::chat);
    auto h2 = b.hold(CpuLane::chat);  // a second chat: released only when both are done
    EXPECT_EQ(b.threads(CpuLane::embed), 0);
    h1.reset();
    EXPECT_TRUE(released.empty());
    b.record(CpuLane::chat, b.threads(CpuLane::chat));
  }
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0], CpuLane::chat);
  b.remove_release(id);
  { auto h = b.hold(CpuLane::sql); }
  EXPECT_EQ(released.size(), 1u);
  const auto log = b.log();
  ASSERT_GE(log.size(), 5u);  // the cores, chat started, chat done, sql started, sql done
  EXPECT_NE(log[1].find("embed 2 -> 0"), std::string::npos) << log[1];
  EXPECT_NE(log[1].find("chat started"), std::string::npos) << log[1];
  const auto j = b.snapshot();
  EXPECT_EQ(j["cores"], 2);
  EXPECT_EQ(j["lanes"]["chat"]["last_step_threads"], 2);
  EXPECT_EQ(j["lanes"]["chat"]["steps_by_threads"]["2"], 1);
  EXPECT_EQ(j["lanes"]["embed"]["threads"], 2);
}

// The Runtime publishes the budget as realtime-stats' "cpu_budget" through the engine's stats sections.
TEST(CoreBudget, RealtimeStatsCarryTheBudget) {
  auto budget = std::make_shared<CoreBudget>(ut::engine::CoreBudgetConfig{.cores = 3});
  ut::engine::Engine eng({.backend = "cpu"});
  eng.set_stats_section("cpu_budget", [budget] { return budget->snapshot(); });
  auto hold = budget->hold(CpuLane::sql);
  const auto j = eng.realtime_stats();
  ASSERT_TRUE(j.contains("cpu_budget"));
  EXPECT_EQ(j["cpu_budget"]["cores"], 3);
  EXPECT_EQ(j["cpu_budget"]["lanes"]["sql"]["active"], true);
  EXPECT_EQ(j["cpu_budget"]["lanes"]["embed"]["threads"], 1);
  eng.set_stats_section("cpu_budget", nullptr);
  EXPECT_FALSE(eng.realtime_stats().contains("cpu_budget"));
}

// Documents embed one chunk per step with every core; a chat arrives during one step. Without preemption the very
// next step uses what the budget leaves background work (0 while the chat waits for its first token, which takes
// every core; then 1 where a core is spare) and the chat's steps get the rest; once the chat is done background embedding has every core again (on 2 cores the yielded
// documents resume and finish with them).
void arriving_chat_takes_the_cores(bool preempt) {
  const char* d = std::getenv("UT_MODELS_DIR");
  const auto models =
      ut::engine::default_models(d && *d ? d : (std::filesystem::temp_directory_path() / "ut-test-models").string());
  std::mt19937 rng(std::random_device{}());
  for (const int cores : {2, 3}) {  // 3: a spare core, so embedding keeps one thread
    SCOPED_TRACE(std::to_string(cores) + " cores");
    const auto dir = std::filesystem::path(::testing::TempDir()) / ("ut_budget_" + std::to_string(rng()));
    std::filesystem::create_directories(dir);
    {
      auto budget = std::make_shared<CoreBudget>(ut::engine::CoreBudgetConfig{.cores = cores});
      ut::engine::Engine eng({.backend = "cpu"});
      ut::engine::Assistant ai(eng, {.embed_model = models.embedder, .chat_model = models.decoder,
                                     .db_path = (dir / "t.duckdb").string(), .parallel = 1,
                                     .tune_index_batch = false, .cpu_budget = budget});
      ai.set_index_batch(1);
      ai.set_preempt_indexing(preempt);
      std::mutex m;
      std::vector<int> embed_steps, chat_steps;
      int arrived_at = -1;  // embed steps before the chat arrived
      std::shared_ptr<ut::engine::ChatJob> job;
      budget->set_step_hook([&](CpuLane lane, int threads) {
        std::lock_guard lock(m);
        if (lane == CpuLane::chat) chat_steps.push_back(threads);
        if (lane != CpuLane::embed) return;
        embed_steps.push_back(threads);
        if (!job && threads == cores && embed_steps.size() >= 2) {  // mid-way through the documents
          arrived_at = static_cast<int>(embed_steps.size());
          // Long enough that it cannot end before the next embedding step; cancelled once that step is seen.
          job = ai.chat({.messages = {{"user", "which queue renders frames?"}},
                         .gen = {.max_tokens = 400, .ignore_eog = true}, .retrieve = false});
        } else if (job && static_cast<int>(embed_steps.size()) == arrived_at + 1) {
          job->cancel = true;
        }
      });
      for (int doc = 0; doc < 3; ++doc) {
        std::string body;
        for (int w = 0; w < 120; ++w) body += "w" + std::to_string(rng() % 5000) + (w % 40 == 39 ? ".\n\n" : " ");
        ai.docs()->create("doc " + std::to_string(doc), body);
      }
      ai.schedule_indexing();
      ASSERT_TRUE(ai.wait_indexed(std::chrono::seconds(120)));
      std::shared_ptr<ut::engine::ChatJob> chat;
      {
        std::lock_guard lock(m);
        chat = job;
      }
      ASSERT_TRUE(chat) << "no embedding step ran with every core";
      chat->wait();
      budget->set_step_hook(nullptr);
      std::lock_guard lock(m);
      ASSERT_GT(static_cast<int>(embed_steps.size()), arrived_at + 1);
      if (preempt) {
        // The step in flight when the chat arrived stopped mid-way; the next ran with what the budget leaves
        // background work (1 where a core is spare), or on 2 cores only once the chat had given its cores back.
        EXPECT_GE(ai.stats().index_batches_preempted, 1u);
        EXPECT_EQ(embed_steps[static_cast<std::size_t>(arrived_at)], cores >= 3 ? 1 : cores);
      } else {
        EXPECT_EQ(ai.stats().index_batches_preempted, 0u);
        // The next step: 0 (it yields) while the chat waits for its first token, which takes every core; after
        // that token, 1 where a core is spare.
        if (cores >= 3) {
          EXPECT_LE(embed_steps[static_cast<std::size_t>(arrived_at)], 1);
        } else {
          EXPECT_EQ(embed_steps[static_cast<std::size_t>(arrived_at)], 0);
        }
      }
      if (cores < 3) {  // it yielded, so the rest of the documents embedded after the chat, on every core
        EXPECT_EQ(embed_steps.back(), cores);
      }
      EXPECT_EQ(budget->threads(CpuLane::embed), cores);  // taken back after the chat
      ASSERT_FALSE(chat_steps.empty());
      EXPECT_EQ(chat_steps.front(), cores);  // the prompt: every core
      for (int t : chat_steps) EXPECT_TRUE(t == cores || (cores >= 3 && t == cores - 1)) << t;
    }
    std::filesystem::remove_all(dir);
  }
}

TEST(CoreBudget, BackgroundEmbeddingGivesItsCoresToAnArrivingChatWithinOneStep) { arriving_chat_takes_the_cores(false); }

// With preemption (the default) the step in flight stops for the chat instead of finishing.
TEST(CoreBudget, AnArrivingChatStopsTheEmbeddingStepInFlight) { arriving_chat_takes_the_cores(true); }

// Priority aging: a chat that never gives the cores back (held here) leaves background embedding no thread from
// the budget; after index_max_wait a batch runs anyway on one thread, and the document becomes searchable. With
// aging off the same document stays pending while the chat holds the cores.
std::pair<bool, uint64_t> embeds_under_a_held_chat(std::chrono::milliseconds max_wait, std::chrono::seconds timeout) {
  const char* d = std::getenv("UT_MODELS_DIR");
  const auto models =
      ut::engine::default_models(d && *d ? d : (std::filesystem::temp_directory_path() / "ut-test-models").string());
  std::mt19937 rng(std::random_device{}());
  const auto dir = std::filesystem::path(::testing::TempDir()) / ("ut_aging_" + std::to_string(rng()));
  std::filesystem::create_directories(dir);
  bool embedded = false;
  uint64_t aged = 0;
  {
    auto budget = std::make_shared<CoreBudget>(ut::engine::CoreBudgetConfig{.cores = 2});
    ut::engine::Engine eng({.backend = "cpu"});
    ut::engine::Assistant ai(eng, {.embed_model = models.embedder, .db_path = (dir / "t.duckdb").string(),
                                   .tune_index_batch = false, .index_max_wait = max_wait, .cpu_budget = budget});
    auto chat = budget->hold(CpuLane::chat);
    EXPECT_EQ(budget->threads(CpuLane::embed), 0) << "the chat holds both cores";
    std::string body;
    for (int w = 0; w < 200; ++w) body += "w" + std::to_string(rng() % 5000) + (w % 40 == 39 ? ".\n\n" : " ");
    const uint64_t doc = ai.docs()->create("held", body);
    ai.schedule_indexing();
    embedded = ai.wait_document(doc, timeout);
    aged = ai.stats().index_batches_aged;
    chat.reset();
  }
  std::filesystem::remove_all(dir);
  return {embedded, aged};
}

TEST(CoreBudget, BackgroundEmbeddingAgesPastAChatThatHoldsTheCores) {
  const auto [embedded, aged] = embeds_under_a_held_chat(std::chrono::milliseconds(300), std::chrono::seconds(60));
  EXPECT_TRUE(embedded) << "the document stayed pending while the chat held the cores";
  EXPECT_GE(aged, 1u);
  // The same with aging off: nothing embeds while the chat holds the cores (checked for a second).
  const auto [off_embedded, off_aged] = embeds_under_a_held_chat(std::chrono::milliseconds(0), std::chrono::seconds(1));
  EXPECT_FALSE(off_embedded);
  EXPECT_EQ(off_aged, 0u);
}

}  // namespace
