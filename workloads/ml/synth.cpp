#include "workloads/ml/synth.h"

#include <ggml.h>
#include <gguf.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "workloads/ml/model.h"
#include "workloads/ml/runtime.h"
#include "workloads/ml/training_io.h"

namespace ut::ml {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw ModelError("[write_synthetic_model] " + path + ": " + problem);
}

struct GgufFree {
  void operator()(gguf_context* g) const noexcept { gguf_free(g); }
};
struct GgmlFree {
  void operator()(ggml_context* c) const noexcept { ggml_free(c); }
};
struct FileClose {
  void operator()(FILE* f) const noexcept { std::fclose(f); }
};

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

enum class Init { random, ones, zeros };

struct TensorPlan {
  ggml_tensor* t;
  Init init;
};

// Copies every tokenizer.* key of the vocabulary file into `out`.
void copy_vocab(gguf_context* out, const std::string& vocab_path, const std::string& path) {
  gguf_init_params params{/*no_alloc=*/true, /*ctx=*/nullptr};
  std::unique_ptr<gguf_context, GgufFree> src(gguf_init_from_file(vocab_path.c_str(), params));
  if (!src) fail(path, "cannot read the vocabulary file '" + vocab_path + "' (run scripts/fetch-deps.sh?)");
  std::unique_ptr<gguf_context, GgufFree> tmp(gguf_init_empty());
  gguf_set_kv(tmp.get(), src.get());
  for (int64_t i = gguf_get_n_kv(tmp.get()) - 1; i >= 0; --i) {
    const std::string key = gguf_get_key(tmp.get(), i);
    if (key.rfind("tokenizer.", 0) != 0) gguf_remove_key(tmp.get(), key.c_str());
  }
  if (gguf_find_key(tmp.get(), "tokenizer.ggml.tokens") < 0) fail(path, "'" + vocab_path + "' has no token list");
  gguf_set_kv(out, tmp.get());
}

}  // namespace

SynthSpec SynthSpec::tiny_embedder() {
  SynthSpec s;
  s.file_name = "tiny-bert-bge-random.gguf";
  s.name = "tiny bert (random weights, bert-bge vocab)";
  s.arch = "bert";
  s.vocab = "bert-bge";
  s.pooling = 1;
  s.norm_eps = 1e-12f;
  return s;
}

SynthSpec SynthSpec::tiny_decoder() {
  SynthSpec s;
  s.file_name = "tiny-llama-spm-random.gguf";
  s.name = "tiny llama (random weights, llama-spm vocab)";
  s.arch = "llama";
  s.vocab = "llama-spm";
  s.n_head_kv = 2;
  s.n_ctx = 4096;
  return s;
}

SynthSpec SynthSpec::bge_small() {
  SynthSpec s;
  s.file_name = "bge-small-shape-random-f16.gguf";
  s.name = "bge-small shape (random weights, bert-bge vocab)";
  s.arch = "bert";
  s.vocab = "bert-bge";
  s.n_layer = 12;
  s.n_embd = 384;
  s.n_ff = 1536;
  s.n_head = s.n_head_kv = 12;
  s.n_ctx = 512;
  s.pooling = 2;
  s.norm_eps = 1e-12f;
  return s;
}

SynthSpec SynthSpec::qwen25_05b() {
  SynthSpec s;
  s.file_name = "qwen2.5-0.5b-shape-random-f16.gguf";
  s.name = "Qwen2.5-0.5B shape (random weights, qwen2 vocab)";
  s.arch = "qwen2";
  s.vocab = "qwen2";
  s.n_layer = 24;
  s.n_embd = 896;
  s.n_ff = 4864;
  s.n_head = 14;
  s.n_head_kv = 2;
  s.n_ctx = 32768;
  s.qkv_bias = true;
  s.rope_base = 1000000.0f;
  s.norm_eps = 1e-6f;
  return s;
}

std::vector<SynthSpec> SynthSpec::test_sizes() { return {tiny_embedder(), tiny_decoder()}; }
std::vector<SynthSpec> SynthSpec::real_sizes() { return {bge_small(), qwen25_05b()}; }

SynthSpec SynthSpec::debian_embedder() {
  SynthSpec s;
  s.file_name = "debian-bert-bge-f16.gguf";
  s.name = "debian-minilm: BERT embedder trained on Debian package descriptions";
  s.description = "trained by tools/train/train_embedder.py; see models/debian/README.md";
  s.arch = "bert";
  s.vocab = "bert-bge";
  s.n_layer = 4;
  s.n_embd = 160;
  s.n_ff = 640;
  s.n_head = s.n_head_kv = 4;
  s.n_ctx = 256;
  s.pooling = 1;
  s.norm_eps = 1e-12f;
  return s;
}

SynthSpec SynthSpec::debian_decoder() {
  SynthSpec s;
  s.file_name = "debian-llama-spm-f16.gguf";
  s.name = "debian-tinyllama: Llama decoder trained on Debian package descriptions";
  s.description = "trained by tools/train/train_decoder.py; see models/debian/README.md";
  s.arch = "llama";
  s.vocab = "llama-spm";
  s.n_layer = 6;
  s.n_embd = 256;
  s.n_ff = 768;
  s.n_head = 8;
  s.n_head_kv = 4;
  s.n_ctx = 1024;
  return s;
}

SynthResult write_synthetic_model(const SynthSpec& spec, const std::string& path, std::string vocab_dir) {
  return write_model(spec, path, std::move(vocab_dir), nullptr);
}

namespace {

// The header keys llama.cpp reads for the architecture: general.*, the shape, attention and RoPE settings.
void set_metadata(gguf_context* g, const SynthSpec& spec, const WeightSource* weights) {
  const std::string a = spec.arch;
  gguf_set_val_str(g, "general.architecture", a.c_str());
  gguf_set_val_str(g, "general.name", spec.name.c_str());
  gguf_set_val_str(g, "general.description",
                   (weights ? spec.description : std::string("seeded random weights written by `ut models synth`")).c_str());
  gguf_set_val_u32(g, "general.file_type", spec.f16 ? 1u : 0u);
  if (!weights) gguf_set_val_u64(g, "general.seed", spec.seed);
  gguf_set_val_u32(g, (a + ".context_length").c_str(), static_cast<uint32_t>(spec.n_ctx));
  gguf_set_val_u32(g, (a + ".embedding_length").c_str(), static_cast<uint32_t>(spec.n_embd));
  gguf_set_val_u32(g, (a + ".feed_forward_length").c_str(), static_cast<uint32_t>(spec.n_ff));
  gguf_set_val_u32(g, (a + ".block_count").c_str(), static_cast<uint32_t>(spec.n_layer));
  gguf_set_val_u32(g, (a + ".attention.head_count").c_str(), static_cast<uint32_t>(spec.n_head));
  if (a == "bert") {
    gguf_set_val_f32(g, "bert.attention.layer_norm_epsilon", spec.norm_eps);
    gguf_set_val_bool(g, "bert.attention.causal", false);
    gguf_set_val_u32(g, "bert.pooling_type", static_cast<uint32_t>(spec.pooling));
  } else {
    gguf_set_val_u32(g, (a + ".attention.head_count_kv").c_str(), static_cast<uint32_t>(spec.n_head_kv));
    gguf_set_val_f32(g, (a + ".attention.layer_norm_rms_epsilon").c_str(), spec.norm_eps);
    gguf_set_val_u32(g, (a + ".rope.dimension_count").c_str(),
                     static_cast<uint32_t>(spec.n_embd / spec.n_head));
    gguf_set_val_f32(g, (a + ".rope.freq_base").c_str(), spec.rope_base);
  }
}

// Declares every tensor of the architecture in the GGUF header (and in `ctx`, metadata only), in llama.cpp's
// names and shapes (ne0 first, as its create_tensor lists them); returns them in file order with their fill.
std::vector<TensorPlan> declare_tensors(ggml_context* ctx, gguf_context* g, const SynthSpec& spec, int64_t n_vocab) {
  const std::string a = spec.arch;
  const int64_t E = spec.n_embd, F = spec.n_ff, H = spec.n_head, HKV = spec.n_head_kv;
  const int64_t E_kv = E / H * HKV;
  const ggml_type mat = spec.f16 ? GGML_TYPE_F16 : GGML_TYPE_F32;
  std::vector<TensorPlan> plan;
  auto add = [&](const std::string& name, ggml_type type, std::vector<int64_t> ne, Init init) {
    ggml_tensor* t = ne.size() == 1 ? ggml_new_tensor_1d(ctx, type, ne[0])
                                    : ggml_new_tensor_2d(ctx, type, ne[0], ne[1]);
    ggml_set_name(t, name.c_str());
    gguf_add_tensor(g, t);
    plan.push_back({t, init});
  };
  auto blk = [](int i, const char* n) { return "blk." + std::to_string(i) + "." + n; };

  add("token_embd.weight", mat, {E, n_vocab}, Init::random);
  if (a == "bert") {
    add("token_types.weight", GGML_TYPE_F32, {E, 2}, Init::random);
    add("position_embd.weight", GGML_TYPE_F32, {E, spec.n_ctx}, Init::random);
    add("token_embd_norm.weight", GGML_TYPE_F32, {E}, Init::ones);
    add("token_embd_norm.bias", GGML_TYPE_F32, {E}, Init::zeros);
    for (int i = 0; i < spec.n_layer; ++i) {
      for (const char* qkv : {"attn_q", "attn_k", "attn_v"}) {
        add(blk(i, qkv) + ".weight", mat, {E, E}, Init::random);
        add(blk(i, qkv) + ".bias", GGML_TYPE_F32, {E}, Init::zeros);
      }
      add(blk(i, "attn_output.weight"), mat, {E, E}, Init::random);
      add(blk(i, "attn_output.bias"), GGML_TYPE_F32, {E}, Init::zeros);
      add(blk(i, "attn_output_norm.weight"), GGML_TYPE_F32, {E}, Init::ones);
      add(blk(i, "attn_output_norm.bias"), GGML_TYPE_F32, {E}, Init::zeros);
      add(blk(i, "ffn_up.weight"), mat, {E, F}, Init::random);
      add(blk(i, "ffn_up.bias"), GGML_TYPE_F32, {F}, Init::zeros);
      add(blk(i, "ffn_down.weight"), mat, {F, E}, Init::random);
      add(blk(i, "ffn_down.bias"), GGML_TYPE_F32, {E}, Init::zeros);
      add(blk(i, "layer_output_norm.weight"), GGML_TYPE_F32, {E}, Init::ones);
      add(blk(i, "layer_output_norm.bias"), GGML_TYPE_F32, {E}, Init::zeros);
    }
  } else {
    add("output_norm.weight", GGML_TYPE_F32, {E}, Init::ones);
    if (!spec.tied_output) add("output.weight", mat, {E, n_vocab}, Init::random);
    for (int i = 0; i < spec.n_layer; ++i) {
      add(blk(i, "attn_norm.weight"), GGML_TYPE_F32, {E}, Init::ones);
      add(blk(i, "attn_q.weight"), mat, {E, E}, Init::random);
      add(blk(i, "attn_k.weight"), mat, {E, E_kv}, Init::random);
      add(blk(i, "attn_v.weight"), mat, {E, E_kv}, Init::random);
      if (spec.qkv_bias) {
        add(blk(i, "attn_q.bias"), GGML_TYPE_F32, {E}, Init::random);
        add(blk(i, "attn_k.bias"), GGML_TYPE_F32, {E_kv}, Init::random);
        add(blk(i, "attn_v.bias"), GGML_TYPE_F32, {E_kv}, Init::random);
      }
      add(blk(i, "attn_output.weight"), mat, {E, E}, Init::random);
      add(blk(i, "ffn_norm.weight"), GGML_TYPE_F32, {E}, Init::ones);
      add(blk(i, "ffn_gate.weight"), mat, {E, F}, Init::random);
      add(blk(i, "ffn_down.weight"), mat, {F, E}, Init::random);
      add(blk(i, "ffn_up.weight"), mat, {E, F}, Init::random);
    }
  }
  return plan;
}

// Appends every tensor's data to `f` (after the header), padded to the file's alignment: trained weights, or
// seeded values (uniform in [-a, a] with std 0.02, ones, zeros) converted chunk by chunk. Returns the parameters.
uint64_t write_tensor_data(FILE* f, const std::vector<TensorPlan>& plan, const SynthSpec& spec,
                           const WeightSource* weights, std::size_t align, const std::string& path) {
  const float amp = 0.02f * std::sqrt(3.0f);
  constexpr std::size_t kChunk = 1 << 20;
  std::vector<float> buf(kChunk);
  std::vector<ggml_fp16_t> half(kChunk);
  uint64_t params = 0;
  for (const auto& tp : plan) {
    const int64_t n = ggml_nelements(tp.t);
    uint64_t state = spec.seed ^ fnv1a(ggml_get_name(tp.t));
    params += static_cast<uint64_t>(n);
    std::vector<float> trained;
    if (weights) {
      trained.resize(static_cast<std::size_t>(n));
      std::vector<int64_t> ne(tp.t->ne, tp.t->ne + ggml_n_dims(tp.t));
      weights->read(ggml_get_name(tp.t), ne, trained);
    }
    for (int64_t off = 0; off < n; off += static_cast<int64_t>(kChunk)) {
      const std::size_t m = static_cast<std::size_t>(std::min<int64_t>(n - off, static_cast<int64_t>(kChunk)));
      if (weights) std::copy_n(trained.begin() + off, m, buf.begin());
      for (std::size_t j = 0; j < m && !weights; ++j) {
        switch (tp.init) {
          case Init::random: {
            const double u = static_cast<double>(splitmix(state) >> 11) * 0x1.0p-53;  // [0, 1)
            buf[j] = static_cast<float>((2.0 * u - 1.0) * amp);
            break;
          }
          case Init::ones: buf[j] = 1.0f; break;
          case Init::zeros: buf[j] = 0.0f; break;
        }
      }
      std::size_t ok;
      if (tp.t->type == GGML_TYPE_F16) {
        ggml_fp32_to_fp16_row(buf.data(), half.data(), static_cast<int64_t>(m));
        ok = std::fwrite(half.data(), sizeof(ggml_fp16_t), m, f);
      } else {
        ok = std::fwrite(buf.data(), sizeof(float), m, f);
      }
      if (ok != m) fail(path, "write failed (disk full?)");
    }
    const std::size_t bytes = ggml_nbytes(tp.t);
    const std::size_t pad = (align - bytes % align) % align;
    static const char zeros[64] = {};
    if (pad && std::fwrite(zeros, 1, pad, f) != pad) fail(path, "write failed (disk full?)");
  }
  return params;
}

}  // namespace

SynthResult write_model(const SynthSpec& spec, const std::string& path, std::string vocab_dir,
                        const WeightSource* weights) {
  const auto t0 = std::chrono::steady_clock::now();
  if (spec.arch != "bert" && spec.arch != "llama" && spec.arch != "qwen2")
    fail(path, "unsupported architecture '" + spec.arch + "' (bert, llama or qwen2)");
  if (spec.n_embd % spec.n_head != 0 || spec.n_head % spec.n_head_kv != 0)
    fail(path, "n_embd must divide by n_head and n_head by n_head_kv");
  if (vocab_dir.empty()) vocab_dir = Runtime::vocab_dir();
  Runtime::ensure();

  std::unique_ptr<gguf_context, GgufFree> g(gguf_init_empty());
  set_metadata(g.get(), spec, weights);
  const std::string vocab_path = vocab_dir + "/ggml-vocab-" + spec.vocab + ".gguf";
  copy_vocab(g.get(), vocab_path, path);
  const int64_t tok_id = gguf_find_key(g.get(), "tokenizer.ggml.tokens");
  const int64_t n_vocab = static_cast<int64_t>(gguf_get_arr_n(g.get(), tok_id));

  const std::size_t n_tensors_max = 16 + static_cast<std::size_t>(spec.n_layer) * 20;
  ggml_init_params ip{n_tensors_max * ggml_tensor_overhead(), nullptr, /*no_alloc=*/true};
  std::unique_ptr<ggml_context, GgmlFree> ctx(ggml_init(ip));
  const std::vector<TensorPlan> plan = declare_tensors(ctx.get(), g.get(), spec, n_vocab);

  std::filesystem::path p(path);
  std::error_code ec;
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  const std::string tmp_path = path + ".part";
  if (!gguf_write_to_file(g.get(), tmp_path.c_str(), /*only_meta=*/true))
    fail(path, "cannot write '" + tmp_path + "'");
  // A failure below (a missing or misshapen trained tensor, a full disk) leaves no partial file behind.
  struct RemoveOnFailure {
    const std::string& path;
    bool armed = true;
    ~RemoveOnFailure() {
      std::error_code ignored;
      if (armed) std::filesystem::remove(path, ignored);
    }
  } cleanup{tmp_path};
  std::unique_ptr<FILE, FileClose> f(std::fopen(tmp_path.c_str(), "ab"));
  if (!f) fail(path, "cannot append to '" + tmp_path + "'");

  SynthResult r;
  r.path = path;
  r.params = write_tensor_data(f.get(), plan, spec, weights, gguf_get_alignment(g.get()), path);
  if (std::fflush(f.get()) != 0) fail(path, "flush failed");
  f.reset();
  std::filesystem::rename(tmp_path, path, ec);
  if (ec) fail(path, "cannot rename '" + tmp_path + "': " + ec.message());
  cleanup.armed = false;
  r.bytes = std::filesystem::file_size(path);
  r.tensors = static_cast<int64_t>(plan.size());
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace ut::ml
