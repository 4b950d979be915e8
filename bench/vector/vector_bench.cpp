// `ut bench vector`: hnswlib on the CPU vs exact top-k (CPU, and the GPU where present), at recall@10 >= 0.95.
#include "bench/vector/vector_bench.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>
#include <span>
#include <string>
#include <thread>

#include "bench/report.h"
#include "timeline/clock.h"
#include "timeline/device.h"
#include "timeline/error.h"
#include "timeline/host.h"
#include "workloads/vector/device_index.h"
#include "workloads/vector/vector_index.h"

namespace ut::bench {
namespace {

std::vector<float> unit_rows(std::mt19937_64& rng, std::size_t rows, std::size_t dim) {
  std::normal_distribution<float> nd;
  std::vector<float> m(rows * dim);
  for (std::size_t r = 0; r < rows; ++r) {
    double norm = 0;
    for (std::size_t d = 0; d < dim; ++d) norm += std::pow(m[r * dim + d] = nd(rng), 2);
    for (std::size_t d = 0; d < dim; ++d) m[r * dim + d] /= static_cast<float>(std::sqrt(norm));
  }
  return m;
}

double recall(const std::vector<std::vector<vector::Hit>>& got, const std::vector<std::set<uint64_t>>& truth) {
  double found = 0, total = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    for (auto& h : got[i]) found += truth[i].count(h.id);
    total += static_cast<double>(truth[i].size());
  }
  return total ? found / total : 0;
}

}  // namespace

int run_vector_bench(const VectorBenchOptions& o) {
  const HostInfo host = host_info();
  std::mt19937_64 rng(o.seed);
  const std::size_t n = o.quick ? std::min<std::size_t>(o.n, 10'000) : o.n;
  const std::size_t nq = o.quick ? std::min<std::size_t>(o.queries, 50) : o.queries;
  std::printf("ut bench vector — %zu vectors × %zu dims, %zu queries, top-%zu; host %s\n", n, o.dim, nq, o.k,
              host.cpu_name.c_str());
  const auto m = unit_rows(rng, n, o.dim);
  const auto qs = unit_rows(rng, nq, o.dim);
  std::vector<uint64_t> ids(n);
  for (std::size_t i = 0; i < n; ++i) ids[i] = i;
  Report r("vector");
  const std::string recall_k = "recall_at_" + std::to_string(o.k);
  r.config() = {{"n", n},           {"dim", o.dim},   {"k", o.k},
                {"queries", nq},    {"seed", o.seed}, {"quick", o.quick},
                {"hnsw_m", 32},     {"hnsw_ef_construction", 200}};
  r.add_note("one measurement per row: queries/s over the run's queries (device rows: one batch of "
             "device_batch_queries fresh queries); recall against exact CPU search");

  // Ground truth: exact search on the CPU.
  vector::ExactIndex exact(o.dim);
  for (std::size_t i = 0; i < n; ++i) exact.upsert(ids[i], std::span<const float>(m.data() + i * o.dim, o.dim));
  std::vector<std::set<uint64_t>> truth(nq);
  uint64_t t0 = now_ns();
  for (std::size_t i = 0; i < nq; ++i)
    for (auto& h : exact.search(std::span<const float>(qs.data() + i * o.dim, o.dim), o.k)) truth[i].insert(h.id);
  const double exact_qps = static_cast<double>(nq) / (static_cast<double>(now_ns() - t0) / 1e9);
  std::printf("  exact CPU (one thread):      %10.1f queries/s, recall 1.000\n", exact_qps);
  r.add("exact top-k, CPU one thread", "ours", "queries_per_s", "1/s", exact_qps);
  r.add("exact top-k, CPU one thread", "ours", recall_k, "ratio", 1.0);

  // HNSW: build, then the smallest ef that reaches recall 0.95.
  vector::HnswIndex ann(o.dim);
  if (!o.no_hnsw) {
    t0 = now_ns();
    const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    ann.upsert_many(ids, m, threads);
    const double build_s = static_cast<double>(now_ns() - t0) / 1e9;
    std::printf("  hnswlib build (M=32, efC=200, %u threads): %.1f s (%.0f inserts/s)\n", threads, build_s,
                static_cast<double>(n) / build_s);
    r.add("hnswlib build", "hnswlib", "build_s", "s", build_s);
    r.add("hnswlib build", "hnswlib", "inserts_per_s", "1/s", static_cast<double>(n) / build_s);
    r.config()["hnsw_build_threads"] = threads;
    // Uniform random 384-d vectors are HNSW's hardest case (no clusters): the ef that reaches 0.95 is large.
    for (std::size_t ef : {32, 64, 128, 256, 512, 1024, 2048, 4096}) {
      ann.set_ef_search(ef);
      std::vector<std::vector<vector::Hit>> got(nq);
      t0 = now_ns();
      for (std::size_t i = 0; i < nq; ++i) got[i] = ann.search(std::span<const float>(qs.data() + i * o.dim, o.dim), o.k);
      const double qps = static_cast<double>(nq) / (static_cast<double>(now_ns() - t0) / 1e9);
      const double rc = recall(got, truth);
      // The same queries from every core at once (searches share the index): what a server would see.
      std::atomic<std::size_t> next{0};
      t0 = now_ns();
      std::vector<std::thread> pool;
      for (unsigned t = 0; t < threads; ++t)
        pool.emplace_back([&] {
          for (std::size_t i; (i = next.fetch_add(1)) < nq;)
            (void)ann.search(std::span<const float>(qs.data() + i * o.dim, o.dim), o.k);
        });
      for (auto& t : pool) t.join();
      const double qps_all = static_cast<double>(nq) / (static_cast<double>(now_ns() - t0) / 1e9);
      std::printf("  hnswlib ef=%-4zu               %10.1f queries/s (%u threads: %.1f), recall %.3f\n", ef, qps,
                  threads, qps_all, rc);
      const std::string c = "hnswlib ef=" + std::to_string(ef);
      r.add(c, "hnswlib", "queries_per_s", "1/s", qps);
      r.add(c, "hnswlib", "queries_per_s_all_threads", "1/s", qps_all);
      r.add(c, "hnswlib", recall_k, "ratio", rc);
      if (rc >= 0.95) break;
    }
  }

  // Exact top-k as timeline kernels on the best device.
  auto dev = Device::create();
  vector::DeviceExactIndex didx(*dev, o.dim, n);
  didx.assign(ids, m);
  auto q = dev->make_queue({.kind = QueueKind::compute, .label = "bench.vector"});
  (void)didx.search(*q, std::span<const float>(qs.data(), o.dim), 1, o.k);  // warm-up
  auto got = didx.search(*q, qs, nq, o.k);
  const double dr = recall(got, truth);  // against the CPU's exact answer
  // Throughput on a larger batch of fresh queries (the recall above covers the kernel's correctness).
  const std::size_t ndq = std::max(nq, o.device_queries);
  const auto dqs = ndq > nq ? unit_rows(rng, ndq, o.dim) : qs;
  t0 = now_ns();
  (void)didx.search(*q, dqs, ndq, o.k);
  const double dqps = static_cast<double>(ndq) / (static_cast<double>(now_ns() - t0) / 1e9);
  std::printf("  exact on %s (%s): %10.1f queries/s (%zu queries a batch), recall %.3f\n", dev->caps().backend.c_str(),
              dev->caps().name.c_str(), dqps, ndq, dr);
  const std::string dc = "exact top-k, " + dev->caps().backend;
  r.set_device(dev->caps());
  r.config()["device_batch_queries"] = ndq;
  r.add(dc, "ours", "queries_per_s", "1/s", dqps);
  r.add(dc, "ours", recall_k, "ratio", dr);
  if (n == 1'000'000)
    r.add_goal({.kpi = "exact top-k queries/s over 1 M x " + std::to_string(o.dim) + " vectors", .goal = ">= 10000 1/s",
                .case_name = dc, .metric = "queries_per_s", .value = dqps, .met = dqps >= 10000});
  r.write(o.json_path);
  std::printf("saved %s\n", o.json_path.c_str());
  return 0;
}

}  // namespace ut::bench
