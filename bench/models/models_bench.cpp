// `ut bench models`: how good the project's trained models are, against honest baselines, through llama.cpp.
//   ut bench models [--corpus data/corpus] [--examples data/examples] [--json PATH] [--quick]
// Retrieval: every held-out (test) package's short description is a query against all packages' documents
// (name + long description, as indexed); recall@1/5/10 for our embedder with exact search and for BM25 over
// the same text. Language model: validation perplexity of the decoder (F16 and its Q8_0), and greedy answers,
// with and without retrieved context. The corpus comes from tools/train (scripts/train-models.sh prepare).
#include "bench/models/models_bench.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "bench/report.h"
#include "timeline/device.h"
#include "timeline/error.h"
#include "timeline/host.h"
#include "workloads/ml/embedder.h"
#include "workloads/ml/generator.h"
#include "workloads/ml/runtime.h"
#include "workloads/ml/scorer.h"
#include "workloads/ml/synth.h"
#include "workloads/vector/bm25.h"

#include <llama.h>

namespace ut::bench {
namespace {

struct Package {
  std::string name, short_desc, long_desc;
  std::string doc() const { return name + "\n" + long_desc; }  // = doc_text() in tools/train/make_examples.py
};

std::vector<Package> read_split(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw Error("cannot open " + path + " (run `bash scripts/train-models.sh prepare`)");
  std::vector<Package> out;
  for (std::string line; std::getline(f, line);) {
    const auto j = nlohmann::json::parse(line);
    out.push_back({j["package"], j["short"], j["long"]});
  }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

struct Recall {
  int64_t at1 = 0, at5 = 0, at10 = 0, n = 0;
  void add(const std::vector<uint32_t>& top, uint32_t truth) {
    const auto pos = std::find(top.begin(), top.end(), truth) - top.begin();
    at1 += pos < 1;
    at5 += pos < 5;
    at10 += pos < 10;
    ++n;
  }
  nlohmann::json json() const {
    const double d = static_cast<double>(std::max<int64_t>(n, 1));
    return {{"recall@1", at1 / d}, {"recall@5", at5 / d}, {"recall@10", at10 / d}, {"queries", n}};
  }
};

std::vector<uint32_t> top_k(std::span<const float> q, const float* docs, std::size_t n, std::size_t dim, std::size_t k) {
  k = std::min(k, n);
  std::vector<std::pair<float, uint32_t>> s(n);
  for (std::size_t i = 0; i < n; ++i) {
    float dot = 0.0f;
    for (std::size_t d = 0; d < dim; ++d) dot += q[d] * docs[i * dim + d];
    s[i] = {-dot, static_cast<uint32_t>(i)};
  }
  std::partial_sort(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(k), s.end());
  std::vector<uint32_t> out(k);
  for (std::size_t i = 0; i < k; ++i) out[i] = s[i].second;
  return out;
}

std::string clip(const std::string& s, std::size_t words) {
  std::string out;
  std::size_t w = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ' ' && ++w >= words) return out + " ...";
    out += s[i];
  }
  return out;
}

// Validation perplexity of the decoder, F16 and its Q8_0, over the first validation chats; returns the number
// of chats and, per format, the tokens scored and the file size.
std::pair<std::size_t, nlohmann::ordered_json> measure_perplexity(const ModelsBenchOptions& o,
                                                                  const std::string& dec_path, Report& report) {
  nlohmann::ordered_json lm;
  std::ifstream vf(o.examples + "/lm_val.jsonl");
  if (!vf) throw Error("cannot open " + o.examples + "/lm_val.jsonl (run `bash scripts/train-models.sh prepare`)");
  std::vector<std::string> chats;
  for (std::string line; std::getline(vf, line) && chats.size() < (o.quick ? 50u : 400u);)
    chats.push_back(nlohmann::json::parse(line)["text"]);
  const std::string q8_path = (std::filesystem::temp_directory_path() / "ut-bench-models-q8_0.gguf").string();
  ml::quantize_q8_0(dec_path, q8_path);
  std::printf("\n  validation perplexity (%zu chats, whole sequences)\n", chats.size());
  for (const auto& [label, path] : {std::pair{"F16", dec_path}, std::pair{"Q8_0", q8_path}}) {
    auto m = ml::Model::load(path, ml::ModelKind::decoder);
    ml::Scorer scorer(m);
    double nll = 0.0;
    int64_t n = 0;
    const auto t = std::chrono::steady_clock::now();
    for (const auto& c : chats) {
      auto ids = m->tokenize(c, true, true);
      ids.push_back(llama_vocab_eos(m->vocab()));
      if (static_cast<int>(ids.size()) > scorer.n_ctx()) ids.resize(static_cast<std::size_t>(scorer.n_ctx()));
      const auto s = scorer.score(ids);
      nll += s.nll_sum;
      n += s.predicted;
    }
    const double ppl = std::exp(nll / static_cast<double>(n));
    const double tokens_per_s = static_cast<double>(n) / seconds_since(t);
    std::printf("  %-5s %8.3f  (%lld tokens, %.1f MB, %.0f tokens/s scored)\n", label, ppl, static_cast<long long>(n),
                static_cast<double>(std::filesystem::file_size(path)) / 1e6, tokens_per_s);
    lm[label] = {{"tokens", n}, {"file_bytes", std::filesystem::file_size(path)}};
    report.add(std::string("decoder perplexity, ") + label, "ours", "perplexity", "ppl", ppl);
    report.add(std::string("decoder perplexity, ") + label, "ours", "scored_tokens_per_s", "tokens/s", tokens_per_s);
  }
  std::filesystem::remove(q8_path);
  return {chats.size(), lm};
}

// Greedy answers for a few held-out packages: without context, and with our top-3 retrieved as context; printed
// and kept as notes.
void greedy_samples(const std::string& dec_path, const std::vector<Package>& docs, std::size_t test_begin,
                    const std::vector<std::string>& queries, const std::vector<std::vector<uint32_t>>& ours_top,
                    const std::vector<std::vector<uint32_t>>& bm25_top, Report& report) {
  const std::size_t n_queries = queries.size();
  auto dec = ml::Model::load(dec_path, ml::ModelKind::decoder);
  ml::Generator gen(dec, {.n_ctx = 1024});
  std::printf("\n  greedy samples (held-out packages)\n");
  for (std::size_t k = 0; k < 3 && k < n_queries; ++k) {
    const std::size_t i = k * (n_queries / 3);
    const std::string question = "Which package provides " + queries[i] + "?";
    std::string ctx = "Use the following context if it helps. Cite sources as [title#chunk].\n";
    for (std::size_t h = 0; h < std::min<std::size_t>(3, ours_top[i].size()); ++h) {
      const auto& d = docs[ours_top[i][h]];
      ctx += "[" + d.name + "#0] " + clip(d.short_desc + ". " + d.long_desc, 60) + "\n";
    }
    const ml::GenerateOptions g{.sampling = {.temperature = 0.0f}, .max_tokens = 64};
    gen.reset();
    const auto plain = gen.chat({{"user", question}}, g).text;
    gen.reset();
    const auto rag = gen.chat({{"system", ctx}, {"user", question}}, g).text;
    std::printf("  Q: %s   (truth: %s; ours top-1 %s, BM25 top-1 %s)\n    no context: %s\n    with context: %s\n",
                question.c_str(), docs[test_begin + i].name.c_str(), docs[ours_top[i][0]].name.c_str(),
                bm25_top[i].empty() ? "-" : docs[bm25_top[i][0]].name.c_str(), clip(plain, 30).c_str(),
                clip(rag, 30).c_str());
    std::string top3;
    for (std::size_t h = 0; h < std::min<std::size_t>(3, ours_top[i].size()); ++h)
      top3 += (h ? ", " : "") + docs[ours_top[i][h]].name;
    report.add_note("greedy sample: Q: " + question + " (truth: " + docs[test_begin + i].name + "; ours top-3: " +
                    top3 + ") | without context: " + plain + " | with context: " + rag);
  }
}

}  // namespace

int run_models_bench(const ModelsBenchOptions& o) {
  const auto t_all = std::chrono::steady_clock::now();
  ml::Runtime::ensure();
  const std::string emb_path = o.models + "/" + ml::SynthSpec::debian_embedder().file_name;
  const std::string dec_path = o.models + "/" + ml::SynthSpec::debian_decoder().file_name;
  std::vector<Package> docs;
  std::size_t test_begin = 0;
  for (const char* split : {"train", "val", "test"}) {
    auto rows = read_split(o.corpus + "/" + split + ".jsonl");
    if (std::string(split) == "test") test_begin = docs.size();
    docs.insert(docs.end(), rows.begin(), rows.end());
  }
  std::size_t n_queries = docs.size() - test_begin;
  if (o.quick) n_queries = std::min<std::size_t>(n_queries, 200);
  std::printf("ut bench models — %zu packages indexed, %zu held-out queries (test split); llama.cpp CPU, %d threads\n",
              docs.size(), n_queries, ml::Runtime::threads());

  // Ours: the embedder through llama.cpp, exact inner-product search.
  auto emb_model = ml::Model::load(emb_path, ml::ModelKind::embedder);
  const std::size_t dim = static_cast<std::size_t>(emb_model->n_embd());
  auto device = Device::create({.backend = "cpu"});
  auto heap = device->make_heap({.size = (docs.size() + n_queries) * dim * sizeof(float) + (1 << 20),
                                 .mode = StorageMode::shared, .label = "B_embed"});
  ml::Embedder emb(emb_model, heap);
  auto doc_vecs = heap->allocate(docs.size() * dim * sizeof(float));
  auto t = std::chrono::steady_clock::now();
  std::size_t tokens = 0, truncated = 0;
  constexpr std::size_t kChunk = 1024;
  for (std::size_t i = 0; i < docs.size(); i += kChunk) {
    std::vector<std::string> texts;
    for (std::size_t j = i; j < std::min(docs.size(), i + kChunk); ++j) texts.push_back(docs[j].doc());
    const auto r = emb.embed_into(texts, doc_vecs, i);
    tokens += r.total_tokens;
    truncated += r.truncated_count;
    if ((i / kChunk) % 10 == 0)
      std::printf("  .. embedded %zu / %zu documents (%.0f s)\n", i + texts.size(), docs.size(), seconds_since(t));
    std::fflush(stdout);
  }
  const double embed_s = seconds_since(t);
  std::printf("  embedded %zu documents, %zu tokens (%zu cut to %d) in %.1f s: %.0f docs/s\n", docs.size(), tokens,
              truncated, emb.max_tokens(), embed_s, static_cast<double>(docs.size()) / embed_s);
  std::vector<std::string> queries;
  for (std::size_t i = 0; i < n_queries; ++i) queries.push_back(docs[test_begin + i].short_desc);
  const auto qv = emb.embed(queries);
  const float* dv = doc_vecs.span<float>().data();
  Recall ours, bm25;
  std::vector<std::vector<uint32_t>> ours_top(n_queries), bm25_top(n_queries);
  t = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < n_queries; ++i) {
    ours_top[i] = top_k(qv.row(i), dv, docs.size(), dim, 10);
    ours.add(ours_top[i], static_cast<uint32_t>(test_begin + i));
  }
  const double search_s = seconds_since(t);

  // Baseline: BM25 over the same documents.
  t = std::chrono::steady_clock::now();
  vector::Bm25Index index;
  for (const auto& d : docs) index.add(d.doc());
  const double bm25_index_s = seconds_since(t);
  t = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < n_queries; ++i) {
    for (const auto& [id, score] : index.search(queries[i], 10)) bm25_top[i].push_back(id);
    bm25.add(bm25_top[i], static_cast<uint32_t>(test_begin + i));
  }
  const double bm25_s = seconds_since(t);
  const auto oj = ours.json(), bj = bm25.json();
  std::printf("\n  retrieval (%zu queries, %zu packages)   recall@1  recall@5  recall@10\n", n_queries, docs.size());
  std::printf("  ours: debian embedder + exact search    %8.3f  %8.3f  %9.3f\n", oj["recall@1"].get<double>(),
              oj["recall@5"].get<double>(), oj["recall@10"].get<double>());
  std::printf("  baseline: BM25 (k1 1.2, b 0.75)         %8.3f  %8.3f  %9.3f\n", bj["recall@1"].get<double>(),
              bj["recall@5"].get<double>(), bj["recall@10"].get<double>());

  Report report("models");
  const std::string rc = "retrieval, " + std::to_string(n_queries) + " held-out packages";
  for (const auto& [side, j] : {std::pair{"ours", &oj}, std::pair{"BM25", &bj}})
    for (int at : {1, 5, 10}) {
      const std::string k = std::to_string(at);
      report.add(rc, side, "recall_at_" + k, "ratio", (*j)["recall@" + k].get<double>());
    }
  report.add(rc, "ours", "embed_documents_per_s", "1/s", static_cast<double>(docs.size()) / embed_s);
  report.add(rc, "ours", "embed_s", "s", embed_s);
  report.add(rc, "ours", "search_s", "s", search_s);
  report.add(rc, "BM25", "index_s", "s", bm25_index_s);
  report.add(rc, "BM25", "search_s", "s", bm25_s);

  const auto [n_chats, lm] = measure_perplexity(o, dec_path, report);
  greedy_samples(dec_path, docs, test_begin, queries, ours_top, bm25_top, report);

  report.add("whole run", "ours", "run_s", "s", seconds_since(t_all));
  report.set_device("cpu", host_info().cpu_name, "llama.cpp v0.5.0 CPU", static_cast<unsigned>(ml::Runtime::threads()));
  report.config() = {{"corpus", o.corpus},      {"examples", o.examples}, {"embedder", emb_path},
                     {"decoder", dec_path},     {"packages", docs.size()}, {"queries", n_queries},
                     {"chats", n_chats},   {"threads", ml::Runtime::threads()},
                     {"llama_backend", "llama.cpp v0.5.0 CPU"}, {"quick", o.quick}, {"perplexity", lm}};
  const double r10 = oj["recall@10"].get<double>();
  report.add_goal({.kpi = "trained embedder recall@10 on held-out packages, ahead of BM25", .goal = ">= 0.8",
                   .case_name = rc, .metric = "recall_at_10", .value = r10,
                   .met = r10 >= 0.8 && r10 > bj["recall@10"].get<double>(), .peer = "BM25",
                   .peer_value = bj["recall@10"].get<double>()});
  report.write(o.json);
  std::printf("\nsaved %s (%.0f s)\n", o.json.c_str(), seconds_since(t_all));
  return 0;
}

}  // namespace ut::bench
