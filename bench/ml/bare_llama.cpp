#include "bench/ml/bare_llama.h"

#include <ggml-alloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "timeline/error.h"
#include "workloads/ml/cpu_threadpool.h"
#include "workloads/ml/runtime.h"

namespace ut::bench {

using namespace ut::ml;

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

llama_token argmax_token(llama_context* ctx, int32_t row) {
  const float* l = llama_get_logits_ith(ctx, row);
  const int n = llama_vocab_n_tokens(llama_model_get_vocab(llama_get_model(ctx)));
  return static_cast<llama_token>(std::max_element(l, l + n) - l);
}

llama_token bare_pick(llama_sampler* chain, llama_context* ctx, int32_t row, BareSampling how) {
  return how == BareSampling::argmax ? argmax_token(ctx, row) : llama_sampler_sample(chain, ctx, row);
}

}  // namespace

std::vector<double> copy_bandwidth(ggml_backend_dev_t dev) {
  constexpr std::size_t kBytes = std::size_t{1} << 30;
  ggml_init_params ip{.mem_size = 2 * ggml_tensor_overhead(), .mem_buffer = nullptr, .no_alloc = true};
  ggml_context* ctx = ggml_init(ip);
  ggml_tensor* a = ggml_new_tensor_1d(ctx, GGML_TYPE_I8, static_cast<int64_t>(kBytes));
  ggml_tensor* b = ggml_new_tensor_1d(ctx, GGML_TYPE_I8, static_cast<int64_t>(kBytes));
  ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors_from_buft(ctx, ggml_backend_dev_buffer_type(dev));
  std::vector<double> rates;
  if (buf) {
    ggml_backend_buffer_clear(buf, 1);
    for (int r = 0; r < 6; ++r) {
      const auto t0 = Clock::now();
      ggml_backend_tensor_copy(a, b);  // synchronous device copy
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      if (r > 0) rates.push_back(2.0 * kBytes / s);  // the first one warms up
    }
    ggml_backend_buffer_free(buf);
  }
  ggml_free(ctx);
  return rates;
}

double bare_embed_ms(const Model& m, llama_context* ctx, const std::vector<std::string>& texts) {
  const auto t0 = Clock::now();
  llama_batch b = llama_batch_init(1024, 0, 1);
  int seq = 0;
  for (const auto& t : texts) {
    auto toks = m.tokenize(t, true);
    if (b.n_tokens + static_cast<int>(toks.size()) > 1024) throw UsageError("[bare llama.cpp] batch too big");
    for (std::size_t p = 0; p < toks.size(); ++p) {
      const int k = b.n_tokens++;
      b.token[k] = toks[p];
      b.pos[k] = static_cast<llama_pos>(p);
      b.n_seq_id[k] = 1;
      b.seq_id[k][0] = seq;
      b.logits[k] = true;
    }
    ++seq;
  }
  if (llama_decode(ctx, b) != 0) throw ModelError("[bare llama.cpp] embedding decode failed");
  const int dim = llama_model_n_embd(m.native());
  std::vector<float> out(static_cast<std::size_t>(dim) * texts.size());
  for (int s = 0; s < seq; ++s) {
    const float* e = llama_get_embeddings_seq(ctx, s);
    double n2 = 0;
    for (int d = 0; d < dim; ++d) n2 += double(e[d]) * e[d];
    const float k = static_cast<float>(1.0 / std::sqrt(n2));
    for (int d = 0; d < dim; ++d) out[static_cast<std::size_t>(s * dim + d)] = e[d] * k;
  }
  llama_batch_free(b);
  return ms_between(t0, Clock::now());
}

// The bare loops' CPU threads: a persistent ggml threadpool, as llama.cpp's own tools attach one (llama-cli,
// llama-server) and as our lane does, so that neither side pays ggml's per-graph thread start-up. One pool serves
// every bare context: they run one at a time.
void attach_bare_pool(llama_context* ctx) {
  static auto* pool = new CpuThreadpool(Runtime::threads());  // never freed: ggml's backends may be gone at exit
  pool->attach(ctx);
}

CtxPtr bare_decoder_ctx(const Model& m, int n_ctx, int chunk) {
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(n_ctx);
  cp.n_batch = static_cast<uint32_t>(chunk);
  cp.n_ubatch = static_cast<uint32_t>(std::min(chunk, 512));
  cp.n_seq_max = 1;
  cp.n_threads = cp.n_threads_batch = m.compute_threads();  // what the lane's Generator uses
  cp.no_perf = true;
  CtxPtr c(llama_init_from_model(m.native(), cp));
  if (!c) throw ModelError("[bare llama.cpp] context failed");
  attach_bare_pool(c.get());
  return c;
}


std::pair<double, double> bare_generate(llama_context* ctx, std::vector<int32_t> prompt, int chunk, int n_gen,
                                        BareSampling how) {
  llama_memory_clear(llama_get_memory(ctx), true);
  llama_sampler* smpl = llama_sampler_chain_init(llama_sampler_chain_default_params());
  llama_sampler_chain_add(smpl, llama_sampler_init_greedy());
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < prompt.size(); i += static_cast<std::size_t>(chunk)) {
    const int n = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(chunk), prompt.size() - i));
    if (llama_decode(ctx, llama_batch_get_one(prompt.data() + i, n)) != 0)
      throw ModelError("[bare llama.cpp] prefill failed");
  }
  llama_token tok = bare_pick(smpl, ctx, -1, how);
  const auto t1 = Clock::now();
  for (int i = 1; i < n_gen; ++i) {
    if (llama_decode(ctx, llama_batch_get_one(&tok, 1)) != 0) throw ModelError("[bare llama.cpp] decode failed");
    tok = bare_pick(smpl, ctx, -1, how);
  }
  const auto t2 = Clock::now();
  llama_sampler_free(smpl);
  return {ms_between(t0, t1), n_gen > 1 ? (n_gen - 1) * 1000.0 / ms_between(t1, t2) : 0.0};
}

double bare_batched_tps(const Model& m, const std::vector<std::vector<int32_t>>& prompts, int n_gen,
                        BareSampling how) {
  const int n = static_cast<int>(prompts.size());
  llama_context_params cp = llama_context_default_params();
  cp.n_seq_max = static_cast<uint32_t>(n);
  cp.n_ctx = static_cast<uint32_t>(n) * 1024;
  cp.kv_unified = false;
  cp.n_batch = 512;
  cp.n_ubatch = 512;
  cp.n_outputs_max = cp.n_seq_max;
  cp.n_threads = cp.n_threads_batch = m.compute_threads();
  cp.no_perf = true;
  CtxPtr ctx(llama_init_from_model(m.native(), cp));
  if (!ctx) throw ModelError("[bare llama.cpp] batched context failed");
  attach_bare_pool(ctx.get());
  std::vector<llama_sampler*> smpl;
  std::vector<llama_token> tok(static_cast<std::size_t>(n));
  llama_batch b = llama_batch_init(512, 0, 1);
  auto add = [&](llama_token t, int pos, int seq, bool logits) {
    b.token[b.n_tokens] = t;
    b.pos[b.n_tokens] = pos;
    b.n_seq_id[b.n_tokens] = 1;
    b.seq_id[b.n_tokens][0] = seq;
    b.logits[b.n_tokens] = logits;
    ++b.n_tokens;
  };
  for (int s = 0; s < n; ++s) {
    smpl.push_back(llama_sampler_chain_init(llama_sampler_chain_default_params()));
    llama_sampler_chain_add(smpl.back(), llama_sampler_init_greedy());
    const auto& p = prompts[static_cast<std::size_t>(s)];
    b.n_tokens = 0;
    for (std::size_t i = 0; i < p.size(); ++i) add(p[i], static_cast<int>(i), s, i + 1 == p.size());
    if (llama_decode(ctx.get(), b) != 0) throw ModelError("[bare llama.cpp] batched prefill failed");
    tok[static_cast<std::size_t>(s)] = bare_pick(smpl.back(), ctx.get(), -1, how);
  }
  const auto t0 = Clock::now();
  for (int step = 1; step < n_gen; ++step) {
    b.n_tokens = 0;
    for (int s = 0; s < n; ++s)
      add(tok[static_cast<std::size_t>(s)], static_cast<int>(prompts[static_cast<std::size_t>(s)].size()) + step - 1, s, true);
    if (llama_decode(ctx.get(), b) != 0) throw ModelError("[bare llama.cpp] batched decode failed");
    for (int s = 0; s < n; ++s) tok[static_cast<std::size_t>(s)] = bare_pick(smpl[static_cast<std::size_t>(s)], ctx.get(), s, how);
  }
  const double ms = ms_between(t0, Clock::now());
  llama_batch_free(b);
  for (auto* x : smpl) llama_sampler_free(x);
  return n_gen > 1 ? n * (n_gen - 1) * 1000.0 / ms : 0.0;
}

}  // namespace ut::bench
