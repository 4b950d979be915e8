// Randomized stress: many queues, random DAGs of command buffers linked by events, checked against a
// sequential oracle. UT_STRESS_GRAPHS sets the number of graphs (default 2000).
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <vector>

#include "tests/timeline/fixture.h"

namespace {

class Stress : public ut::test::DeviceTest {};

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

TEST_F(Stress, RandomDagsMatchSequentialOracle) {
  const char* env = std::getenv("UT_STRESS_GRAPHS");
  const int graphs = env ? std::atoi(env) : 2000;
  constexpr int kQueues = 6;
  std::vector<ut::QueuePtr> queues;
  for (int i = 0; i < kQueues; ++i) {
    queues.push_back(dev->make_queue({.kind = static_cast<ut::QueueKind>(i % 4), .label = "sq" + std::to_string(i)}));
  }
  const uint64_t seed = rng();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 g(seed);
  for (int gi = 0; gi < graphs; ++gi) {
    const int n = 2 + static_cast<int>(g() % 24);
    // Random DAG: node j depends on a few earlier nodes.
    std::vector<std::vector<int>> deps(static_cast<std::size_t>(n));
    for (int j = 1; j < n; ++j) {
      const int k = static_cast<int>(g() % 4);
      for (int t = 0; t < k; ++t) deps[static_cast<std::size_t>(j)].push_back(static_cast<int>(g() % static_cast<uint64_t>(j)));
    }
    std::vector<uint64_t> salt(static_cast<std::size_t>(n));
    for (auto& s : salt) s = g();
    // Oracle.
    std::vector<uint64_t> expect(static_cast<std::size_t>(n));
    for (int j = 0; j < n; ++j) {
      uint64_t v = salt[static_cast<std::size_t>(j)];
      for (int d : deps[static_cast<std::size_t>(j)]) v = mix(v + expect[static_cast<std::size_t>(d)]);
      expect[static_cast<std::size_t>(j)] = v;
    }
    // One event per graph, nodes signal value j+1 on their own event (events are cheap; many are the point).
    std::vector<ut::EventPtr> ev;
    for (int j = 0; j < n; ++j) ev.push_back(dev->make_event());
    std::vector<uint64_t> got(static_cast<std::size_t>(n), 0);
    // Commit in a random topological order so that queue order never contradicts the DAG.
    std::vector<int> indeg(static_cast<std::size_t>(n), 0);
    std::vector<std::vector<int>> out(static_cast<std::size_t>(n));
    for (int j = 0; j < n; ++j) {
      for (int d : deps[static_cast<std::size_t>(j)]) {
        out[static_cast<std::size_t>(d)].push_back(j);
        ++indeg[static_cast<std::size_t>(j)];
      }
    }
    std::vector<int> ready;
    for (int j = 0; j < n; ++j)
      if (indeg[static_cast<std::size_t>(j)] == 0) ready.push_back(j);
    std::vector<ut::CommandBuffer> cbs;
    while (!ready.empty()) {
      const std::size_t pick = g() % ready.size();
      const int j = ready[pick];
      ready.erase(ready.begin() + static_cast<long>(pick));
      auto& q = queues[g() % kQueues];
      auto cb = q->make_command_buffer("g" + std::to_string(gi) + "n" + std::to_string(j));
      for (int d : deps[static_cast<std::size_t>(j)]) cb.wait(ev[static_cast<std::size_t>(d)], 1);
      cb.host_task([&got, &deps, &salt, j] {
        uint64_t v = salt[static_cast<std::size_t>(j)];
        for (int d : deps[static_cast<std::size_t>(j)]) v = mix(v + got[static_cast<std::size_t>(d)]);
        got[static_cast<std::size_t>(j)] = v;
      });
      cb.signal(ev[static_cast<std::size_t>(j)], 1);
      cb.commit();
      cbs.push_back(cb);
      for (int s : out[static_cast<std::size_t>(j)])
        if (--indeg[static_cast<std::size_t>(s)] == 0) ready.push_back(s);
    }
    for (auto& cb : cbs) cb.wait_until_completed();
    ASSERT_EQ(got, expect) << "graph " << gi;
  }
}

}  // namespace
