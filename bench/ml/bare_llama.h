// Bare llama.cpp loops: what a minimal program on llama.cpp's C API would write, the peers of `ut bench ml` (our
// ML lane) and `ut bench decode` (the own GPU decode path), on the same model in the same process.
//
//   auto ctx = ut::bench::bare_decoder_ctx(*model, 4096, 512);
//   auto [ttft_ms, tps] = ut::bench::bare_generate(ctx.get(), prompt, 512, 64, ut::bench::BareSampling::argmax);
//   double tps16 = ut::bench::bare_batched_tps(*model, prompts16, 64, ut::bench::BareSampling::argmax);
//   auto rates = ut::bench::copy_bandwidth(ut::ml::Runtime::gpu_device());  // bytes read + written per second
//
// Contract: throw ModelError when llama.cpp refuses a context or a decode. Not thread-safe (one shared thread pool).
#pragma once

#include <ggml-backend.h>
#include <llama.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "workloads/ml/model.h"

namespace ut::bench {

struct CtxFree {
  void operator()(llama_context* c) const noexcept { llama_free(c); }
};
using CtxPtr = std::unique_ptr<llama_context, CtxFree>;

// How a bare loop picks a greedy token: through llama.cpp's sampler chain (a candidate array over the whole
// vocabulary per token), or the arg-max of the row of logits (what our lane does for greedy chats).
enum class BareSampling { chain, argmax };

// Device-to-device copy bandwidth of `dev` through ggml's own buffers (what a weight read costs at best): five
// 1 GiB copies after a warm-up, counting bytes read + written; empty when the buffers cannot be allocated.
std::vector<double> copy_bandwidth(ggml_backend_dev_t dev);

// One batch of texts embedded in one llama_decode, L2-normalised; returns milliseconds.
double bare_embed_ms(const ml::Model& m, llama_context* ctx, const std::vector<std::string>& texts);

// A decoder context of n_ctx positions prefilled in chunks of `chunk`, with a persistent CPU thread pool.
CtxPtr bare_decoder_ctx(const ml::Model& m, int n_ctx, int chunk);
void attach_bare_pool(llama_context* ctx);

// Prefill in chunks, then `n_gen` greedy tokens. Returns {ttft_ms, decode tokens/s}.
std::pair<double, double> bare_generate(llama_context* ctx, std::vector<int32_t> prompt, int chunk, int n_gen,
                                        BareSampling how = BareSampling::chain);

// The prompts prefilled one sequence each, then `n_gen` greedy tokens per sequence with all sequences in one
// llama_decode per step (how llama.cpp's server batches). Returns the decode phase's tokens/s, all together.
double bare_batched_tps(const ml::Model& m, const std::vector<std::vector<int32_t>>& prompts, int n_gen,
                        BareSampling how = BareSampling::chain);

}  // namespace ut::bench
