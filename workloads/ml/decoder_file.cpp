#include "workloads/ml/decoder_file.h"

#include <ggml.h>
#include <gguf.h>

#include <algorithm>
#include <optional>

#include "workloads/ml/model.h"

namespace ut::ml {
namespace {

std::optional<double> number_kv(const gguf_context* g, const std::string& key) {
  const int64_t id = gguf_find_key(g, key.c_str());
  if (id < 0) return std::nullopt;
  switch (gguf_get_kv_type(g, id)) {
    case GGUF_TYPE_UINT32: return gguf_get_val_u32(g, id);
    case GGUF_TYPE_INT32: return gguf_get_val_i32(g, id);
    case GGUF_TYPE_UINT64: return static_cast<double>(gguf_get_val_u64(g, id));
    case GGUF_TYPE_FLOAT32: return gguf_get_val_f32(g, id);
    default: return std::nullopt;
  }
}

}  // namespace

DecoderFile::DecoderFile(const std::string& gguf_path, bool metadata_only)
    : path_(gguf_path), metadata_only_(metadata_only) {
  gguf_ = gguf_init_from_file(gguf_path.c_str(), {.no_alloc = metadata_only, .ctx = &ctx_});
  if (!gguf_ || !ctx_) {
    if (gguf_) gguf_free(gguf_);
    if (ctx_) ggml_free(ctx_);
    throw ModelError("[DecoderFile] cannot read '" + gguf_path + "' as GGUF");
  }
  try {
    const gguf_context* g = gguf_;
    const int64_t arch_id = gguf_find_key(g, "general.architecture");
    shape_.arch = arch_id < 0 ? "" : gguf_get_val_str(g, arch_id);
    if (shape_.arch != "llama" && shape_.arch != "qwen2")
      throw ModelError("[DecoderFile] '" + gguf_path + "': architecture '" + shape_.arch +
                       "' (only llama and qwen2 are implemented)");
    const std::string& a = shape_.arch;
    const auto need = [&](const std::string& key) {
      const auto v = number_kv(g, a + "." + key);
      if (!v) throw ModelError("[DecoderFile] '" + gguf_path + "': no " + a + "." + key);
      return *v;
    };
    shape_.n_layer = static_cast<int>(need("block_count"));
    shape_.n_embd = static_cast<int>(need("embedding_length"));
    shape_.n_ff = static_cast<int>(need("feed_forward_length"));
    shape_.n_head = static_cast<int>(need("attention.head_count"));
    shape_.n_head_kv = static_cast<int>(number_kv(g, a + ".attention.head_count_kv").value_or(shape_.n_head));
    shape_.n_ctx = static_cast<int>(need("context_length"));
    shape_.norm_eps = static_cast<float>(need("attention.layer_norm_rms_epsilon"));
    shape_.rope_base = static_cast<float>(number_kv(g, a + ".rope.freq_base").value_or(10000.0));
    if (shape_.n_head <= 0 || shape_.n_head_kv <= 0 || shape_.n_embd % shape_.n_head != 0 ||
        shape_.n_head % shape_.n_head_kv != 0)
      throw ModelError("[DecoderFile] '" + gguf_path + "': inconsistent attention shape");
    shape_.n_rot = static_cast<int>(number_kv(g, a + ".rope.dimension_count").value_or(shape_.head_dim()));
    const ggml_tensor* emb = ggml_get_tensor(ctx_, "token_embd.weight");
    if (!emb) throw ModelError("[DecoderFile] '" + gguf_path + "': tensor 'token_embd.weight' is missing");
    shape_.n_vocab = static_cast<int>(emb->ne[1]);
    if (shape_.n_rot > shape_.head_dim() || shape_.n_rot % 2 != 0 || shape_.head_dim() % 2 != 0)
      throw ModelError("[DecoderFile] '" + gguf_path + "': inconsistent attention shape");
  } catch (...) {
    gguf_free(gguf_);
    ggml_free(ctx_);
    throw;
  }
}

DecoderFile::~DecoderFile() {
  gguf_free(gguf_);
  ggml_free(ctx_);
}

bool DecoderFile::has(const std::string& name) const { return ggml_get_tensor(ctx_, name.c_str()) != nullptr; }

std::string DecoderFile::type_name(const std::string& name) const {
  const ggml_tensor* t = ggml_get_tensor(ctx_, name.c_str());
  return t ? ggml_type_name(t->type) : "";
}

std::vector<float> DecoderFile::tensor(const std::string& name, int64_t cols, int64_t rows, bool optional) const {
  const ggml_tensor* t = ggml_get_tensor(ctx_, name.c_str());
  if (!t) {
    if (optional) return {};
    throw ModelError("[DecoderFile] '" + path_ + "': tensor '" + name + "' is missing");
  }
  if (metadata_only_) throw ModelError("[DecoderFile] '" + path_ + "' was opened for its metadata only");
  if (t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != 1 || t->ne[3] != 1)
    throw ModelError("[DecoderFile] '" + path_ + "': tensor '" + name + "' is " + std::to_string(t->ne[0]) + " x " +
                     std::to_string(t->ne[1]) + ", expected " + std::to_string(cols) + " x " + std::to_string(rows));
  std::vector<float> out(static_cast<std::size_t>(cols * rows));
  if (t->type == GGML_TYPE_F32) {
    for (int64_t r = 0; r < rows; ++r)
      std::copy_n(reinterpret_cast<const float*>(static_cast<const char*>(t->data) + r * t->nb[1]), cols,
                  out.begin() + r * cols);
  } else {
    const auto* traits = ggml_get_type_traits(t->type);
    if (!traits->to_float)
      throw ModelError("[DecoderFile] '" + path_ + "': tensor '" + name + "': no dequantizer for its type");
    for (int64_t r = 0; r < rows; ++r)
      traits->to_float(static_cast<const char*>(t->data) + r * t->nb[1], out.data() + r * cols, cols);
  }
  return out;
}

}  // namespace ut::ml
