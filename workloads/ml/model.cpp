#include "workloads/ml/model.h"

#include <ggml-backend.h>
#include <gguf.h>
#include <llama.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <unordered_set>
#include <vector>

#include "workloads/ml/runtime.h"

namespace ut::ml {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const char* where, const std::string& path, const std::string& problem) {
  throw ModelError(std::string("[") + where + "] " + path + ": " + problem);
}

std::string with_log(std::string msg) {
  const std::string log = Runtime::last_log();
  if (!log.empty()) msg += " (llama.cpp: " + log + ")";
  return msg;
}

struct GgufCloser {
  void operator()(gguf_context* g) const noexcept { gguf_free(g); }
};

// Vocabularies that llama.cpp loads and then aborts the process on, found by the GGUF fuzz target; an empty string
// when the vocabulary is usable, else the problem:
// - the same token text twice: GGML_ASSERT(id_to_token.size() == token_to_id.size()) while loading;
// - a SentencePiece ("llama") vocabulary without all byte tokens <0x00>..<0xFF>: llama.cpp spells every character
//   that has no token of its own with them, looked up with unordered_map::at, so the first such character throws
//   std::out_of_range through its C API and the process aborts.
// An integer metadata value of any integer type; nullopt when absent or not an integer (llama.cpp reports those).
std::optional<int64_t> int_kv(const gguf_context* g, const std::string& key) {
  const int64_t id = gguf_find_key(g, key.c_str());
  if (id < 0) return std::nullopt;
  switch (gguf_get_kv_type(g, id)) {
    case GGUF_TYPE_UINT8: return gguf_get_val_u8(g, id);
    case GGUF_TYPE_INT8: return gguf_get_val_i8(g, id);
    case GGUF_TYPE_UINT16: return gguf_get_val_u16(g, id);
    case GGUF_TYPE_INT16: return gguf_get_val_i16(g, id);
    case GGUF_TYPE_UINT32: return gguf_get_val_u32(g, id);
    case GGUF_TYPE_INT32: return gguf_get_val_i32(g, id);
    case GGUF_TYPE_UINT64: return static_cast<int64_t>(std::min<uint64_t>(gguf_get_val_u64(g, id), INT64_MAX));
    case GGUF_TYPE_INT64: return gguf_get_val_i64(g, id);
    default: return std::nullopt;
  }
}

// Hyperparameters that llama.cpp checks with GGML_ASSERT while loading (llama_model_base::load_hparams), which
// aborts the process on a bad file (found by the GGUF fuzz target): checked here first, as a clear error.
std::string hparams_problem(const gguf_context* g, const std::string& arch) {
  constexpr int64_t max_layers = 512, max_experts = 1024;  // LLAMA_MAX_LAYERS, LLAMA_MAX_EXPERTS (llama-hparams.h)
  const auto layers = int_kv(g, arch + ".block_count");
  if (layers && (*layers <= 0 || *layers > max_layers))
    return arch + ".block_count is " + std::to_string(*layers) + " (llama.cpp takes 1.." + std::to_string(max_layers) + ")";
  if (const auto nextn = int_kv(g, arch + ".nextn_predict_layers"); nextn && layers && (*nextn < 0 || *nextn > *layers))
    return arch + ".nextn_predict_layers is " + std::to_string(*nextn) + ", more than the " + std::to_string(*layers) + " layers";
  const int64_t experts = int_kv(g, arch + ".expert_count").value_or(0);
  if (experts < 0 || experts > max_experts)
    return arch + ".expert_count is " + std::to_string(experts) + " (llama.cpp takes 0.." + std::to_string(max_experts) + ")";
  if (const auto used = int_kv(g, arch + ".expert_used_count"); used && (*used < 0 || *used > experts || (experts > 0 && *used == 0)))
    return arch + ".expert_used_count is " + std::to_string(*used) + " for " + std::to_string(experts) + " experts";
  return {};
}

std::string vocabulary_problem(const gguf_context* g) {
  const int64_t tokens = gguf_find_key(g, "tokenizer.ggml.tokens");
  if (tokens < 0 || gguf_get_kv_type(g, tokens) != GGUF_TYPE_ARRAY || gguf_get_arr_type(g, tokens) != GGUF_TYPE_STRING)
    return {};  // no vocabulary, or not one llama.cpp reads as such: it says so itself
  const std::size_t n = gguf_get_arr_n(g, tokens);
  std::unordered_set<std::string> seen;
  seen.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const char* t = gguf_get_arr_str(g, tokens, i);
    // As llama.cpp names them: an empty token becomes "[EMPTY_<id>]".
    std::string text = t && *t ? std::string(t) : "[EMPTY_" + std::to_string(i) + "]";
    if (!seen.insert(text).second)
      return "its vocabulary holds the token '" + text + "' twice (the second at id " + std::to_string(i) + ")";
  }
  const int64_t model = gguf_find_key(g, "tokenizer.ggml.model");
  if (model < 0 || gguf_get_kv_type(g, model) != GGUF_TYPE_STRING || std::string(gguf_get_val_str(g, model)) != "llama")
    return {};
  std::array<bool, 256> have{};
  for (std::size_t i = 0; i < n; ++i) {
    const char* t = gguf_get_arr_str(g, tokens, i);
    // Exactly "<0xNN>" with upper-case hex digits, as llama.cpp looks them up.
    auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
    if (t && std::strlen(t) == 6 && std::strncmp(t, "<0x", 3) == 0 && t[5] == '>' && hex(t[3]) >= 0 && hex(t[4]) >= 0)
      have[static_cast<std::size_t>(hex(t[3]) * 16 + hex(t[4]))] = true;
  }
  const auto missing = std::find(have.begin(), have.end(), false);
  if (missing == have.end()) return {};
  char name[8];
  std::snprintf(name, sizeof name, "<0x%02X>", static_cast<unsigned>(missing - have.begin()));
  return std::string("its SentencePiece vocabulary lacks the byte token ") + name +
         " (llama.cpp needs all 256, <0x00>..<0xFF>, to tokenize text outside the vocabulary)";
}

std::string kv_string(const gguf_context* g, const std::string& key) {
  const int64_t id = gguf_find_key(g, key.c_str());
  if (id < 0 || gguf_get_kv_type(g, id) != GGUF_TYPE_STRING) return {};
  return gguf_get_val_str(g, id);
}

// Architectures that only encode (no causal decoder): their output is an embedding, not next-token logits.
std::string a_or_an(ModelKind k) {
  const std::string s = to_string(k);
  return (s[0] == 'e' ? "an " : "a ") + s;
}

bool encoder_only_arch(const std::string& arch) {
  static const std::set<std::string> k{"bert",        "nomic-bert",  "nomic-bert-moe", "jina-bert-v2",
                                       "jina-bert-v3", "modern-bert", "neo-bert",       "eurobert",
                                       "t5encoder",   "gemma-embedding"};
  return k.count(arch) > 0;
}

}  // namespace

const char* to_string(ModelKind k) noexcept {
  switch (k) {
    case ModelKind::embedder: return "embedder";
    case ModelKind::decoder: return "decoder";
    case ModelKind::vocab_only: return "vocab-only";
  }
  return "?";
}

GgufInfo Model::inspect(const std::string& path) {
  constexpr const char* where = "Model::inspect";
  std::error_code ec;
  if (!fs::exists(path, ec)) fail(where, path, "file not found");
  if (!fs::is_regular_file(path, ec)) fail(where, path, "not a regular file");
  GgufInfo info;
  info.file_bytes = fs::file_size(path, ec);
  if (ec) fail(where, path, "cannot read its size: " + ec.message());

  std::ifstream in(path, std::ios::binary);
  if (!in) fail(where, path, "cannot open for reading");
  std::array<char, 4> magic{};
  in.read(magic.data(), magic.size());
  if (in.gcount() < 4 || std::string(magic.data(), 4) != "GGUF")
    fail(where, path, "not a GGUF file (the first 4 bytes are not 'GGUF'; " + std::to_string(info.file_bytes) +
                          " bytes)");
  in.close();

  Runtime::ensure();
  Runtime::clear_log();
  gguf_init_params params{/*no_alloc=*/true, /*ctx=*/nullptr};
  std::unique_ptr<gguf_context, GgufCloser> g(gguf_init_from_file(path.c_str(), params));
  if (!g) fail(where, path, with_log("corrupt or truncated GGUF metadata (the header could not be parsed)"));

  info.architecture = kv_string(g.get(), "general.architecture");
  info.name = kv_string(g.get(), "general.name");
  auto [id, description] = model_name_of(info.name, path);
  info.id = std::move(id);
  info.description = std::move(description);
  if (info.architecture.empty()) fail(where, path, "GGUF metadata has no general.architecture");
  if (const std::string problem = vocabulary_problem(g.get()); !problem.empty()) fail(where, path, problem);
  if (const std::string problem = hparams_problem(g.get(), info.architecture); !problem.empty()) fail(where, path, problem);

  info.tensors = gguf_get_n_tensors(g.get());
  uint64_t end = 0;
  for (int64_t i = 0; i < info.tensors; ++i)
    end = std::max<uint64_t>(end, gguf_get_tensor_offset(g.get(), i) + gguf_get_tensor_size(g.get(), i));
  info.tensor_bytes = end;
  const uint64_t need = gguf_get_data_offset(g.get()) + end;
  if (info.tensors > 0 && need > info.file_bytes)
    fail(where, path, "truncated: tensor data needs " + std::to_string(need) + " bytes but the file has " +
                          std::to_string(info.file_bytes) + " (an interrupted download or copy?)");

  const std::string arch = info.architecture;
  const bool pooled = gguf_find_key(g.get(), (arch + ".pooling_type").c_str()) >= 0;
  const int64_t causal = gguf_find_key(g.get(), (arch + ".attention.causal").c_str());
  const bool non_causal = causal >= 0 && gguf_get_kv_type(g.get(), causal) == GGUF_TYPE_BOOL &&
                          !gguf_get_val_bool(g.get(), causal);
  if (info.tensors == 0)
    info.kind = ModelKind::vocab_only;
  else if (encoder_only_arch(arch) || pooled || non_causal)
    info.kind = ModelKind::embedder;
  else
    info.kind = ModelKind::decoder;
  return info;
}

std::shared_ptr<Model> Model::load(const std::string& path, ModelKind expected, const ModelOptions& opts) {
  constexpr const char* where = "Model::load";
  GgufInfo info = inspect(path);
  if (expected != ModelKind::vocab_only && info.kind != expected) {
    if (info.kind == ModelKind::vocab_only)
      fail(where, path, "holds only a vocabulary (no weights); " + a_or_an(expected) + " was expected");
    fail(where, path, "is " + a_or_an(info.kind) + " model (architecture '" + info.architecture + "') but " +
                          a_or_an(expected) + " was expected");
  }
  llama_model_params mp = llama_model_default_params();
  const bool vocab_only = expected == ModelKind::vocab_only;
  ggml_backend_dev_t gpu = vocab_only || opts.placement == Placement::cpu ? nullptr : Runtime::gpu_device();
  if (opts.placement == Placement::gpu && !gpu)
    fail(where, path, "placement gpu asked for, but no GPU backend is loaded (build it with "
                      "scripts/build-ggml-cuda.sh; Runtime::gpu_name() is empty)");
  // An explicit device list: {gpu} or {} (CPU only; also keeps llama.cpp from offloading big batches).
  std::array<ggml_backend_dev_t, 2> devices{gpu, nullptr};
  mp.devices = devices.data();
  mp.n_gpu_layers = gpu ? (opts.gpu_layers < 0 ? 999 : opts.gpu_layers) : 0;
  mp.load_mode = opts.mmap ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
  mp.vocab_only = vocab_only;
  Runtime::clear_log();
  llama_model* m = llama_model_load_from_file(path.c_str(), mp);
  if (!m) fail(where, path, with_log("llama.cpp could not load it (architecture '" + info.architecture + "')"));
  return std::shared_ptr<Model>(new Model(path, vocab_only ? expected : info.kind, std::move(info), m,
                                          gpu != nullptr && mp.n_gpu_layers > 0));
}

std::shared_ptr<Model> Model::load_vocab(const std::string& path) { return load(path, ModelKind::vocab_only); }

Model::Model(std::string path, ModelKind kind, GgufInfo info, llama_model* m, bool on_gpu)
    : path_(std::move(path)),
      kind_(kind),
      info_(std::move(info)),
      model_(m),
      vocab_(llama_model_get_vocab(m)),
      on_gpu_(on_gpu) {}

Model::~Model() { llama_model_free(model_); }

std::vector<int32_t> Model::tokenize(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<llama_token> out(text.size() + 8);
  int32_t n = llama_tokenize(vocab_, text.data(), static_cast<int32_t>(text.size()), out.data(),
                             static_cast<int32_t>(out.size()), add_special, parse_special);
  if (n < 0) {
    if (n == INT32_MIN) throw ModelError("[Model::tokenize] " + path_ + ": text too long to tokenize");
    out.resize(static_cast<std::size_t>(-n));
    n = llama_tokenize(vocab_, text.data(), static_cast<int32_t>(text.size()), out.data(),
                       static_cast<int32_t>(out.size()), add_special, parse_special);
    if (n < 0) throw ModelError("[Model::tokenize] " + path_ + ": tokenizer failed");
  }
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string Model::detokenize(const std::vector<int32_t>& tokens, bool special) const {
  std::string s(tokens.size() * 8 + 16, '\0');
  int32_t n = llama_detokenize(vocab_, tokens.data(), static_cast<int32_t>(tokens.size()), s.data(),
                               static_cast<int32_t>(s.size()), false, special);
  if (n < 0) {
    s.resize(static_cast<std::size_t>(-n));
    n = llama_detokenize(vocab_, tokens.data(), static_cast<int32_t>(tokens.size()), s.data(),
                         static_cast<int32_t>(s.size()), false, special);
  }
  s.resize(static_cast<std::size_t>(std::max(n, 0)));
  return s;
}

std::string Model::token_to_piece(int32_t token, bool special) const {
  char buf[256];
  const int32_t n = llama_token_to_piece(vocab_, token, buf, sizeof(buf), 0, special);
  if (n >= 0) return std::string(buf, static_cast<std::size_t>(n));
  std::string s(static_cast<std::size_t>(-n), '\0');
  const int32_t m = llama_token_to_piece(vocab_, token, s.data(), static_cast<int32_t>(s.size()), 0, special);
  s.resize(static_cast<std::size_t>(std::max(m, 0)));
  return s;
}

bool Model::is_end_of_generation(int32_t token) const { return llama_vocab_is_eog(vocab_, token); }

int Model::compute_threads() const { return on_gpu_ ? std::min(Runtime::threads(), 4) : Runtime::threads(); }

const std::vector<int32_t>& Model::end_of_generation_tokens() const {
  std::call_once(eog_once_, [this] {
    const int32_t n = llama_vocab_n_tokens(vocab_);
    for (int32_t t = 0; t < n; ++t)
      if (llama_vocab_is_eog(vocab_, t)) eog_.push_back(t);
  });
  return eog_;
}

std::string Model::description() const {
  char buf[256];
  llama_model_desc(model_, buf, sizeof(buf));
  return buf;
}
int Model::n_embd() const { return llama_model_n_embd(model_); }
int Model::n_ctx_train() const { return llama_model_n_ctx_train(model_); }
int Model::n_vocab() const { return llama_vocab_n_tokens(vocab_); }
uint64_t Model::n_params() const { return llama_model_n_params(model_); }
uint64_t Model::size_bytes() const { return llama_model_size(model_); }

std::optional<std::string> Model::chat_template() const {
  const char* t = llama_model_chat_template(model_, nullptr);
  if (!t || !*t) return std::nullopt;
  return std::string(t);
}

std::optional<std::string> Model::meta(const std::string& key) const {
  const int32_t n = llama_model_meta_val_str(model_, key.c_str(), nullptr, 0);
  if (n < 0) return std::nullopt;
  std::string s(static_cast<std::size_t>(n) + 1, '\0');
  llama_model_meta_val_str(model_, key.c_str(), s.data(), s.size());
  s.resize(static_cast<std::size_t>(n));
  return s;
}

namespace {
bool slug_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'; }

// Runs of anything but letters, digits, '-', '_' and '.' become one '-'; lower case.
std::string slugify(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (slug_char(c)) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (!out.empty() && out.back() != '-') out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}
}  // namespace

ModelName model_name_of(const std::string& general_name, const std::string& path) {
  const auto colon = general_name.find(": ");
  if (colon != std::string::npos && colon > 0 &&
      std::all_of(general_name.begin(), general_name.begin() + static_cast<std::ptrdiff_t>(colon), slug_char))
    return {general_name.substr(0, colon), general_name.substr(colon + 2)};
  std::string id = path.empty() ? slugify(general_name) : fs::path(path).stem().string();
  // A file stem may hold spaces too; an id never does.
  if (std::any_of(id.begin(), id.end(), [](char c) { return !slug_char(c); })) id = slugify(id);
  if (id.empty()) id = "model";
  return {id, general_name};
}

bool truncate_keeping_separator(std::vector<int32_t>& ids, int max_tokens, bool ends_with_separator) {
  if (max_tokens <= 0 || static_cast<int>(ids.size()) <= max_tokens) return false;
  const int32_t last = ids.back();
  ids.resize(static_cast<std::size_t>(max_tokens));
  if (ends_with_separator) ids.back() = last;
  return true;
}

void quantize_q8_0(const std::string& in, const std::string& out) {
  Model::inspect(in);
  Runtime::ensure();
  auto p = llama_model_quantize_default_params();
  p.ftype = LLAMA_FTYPE_MOSTLY_Q8_0;
  p.nthread = Runtime::threads();
  Runtime::clear_log();
  if (llama_model_quantize(in.c_str(), out.c_str(), &p) != 0)
    throw ModelError("[quantize_q8_0] " + in + ": llama.cpp could not quantize it to " + out + " (" +
                     Runtime::last_log() + ")");
}

}  // namespace ut::ml
