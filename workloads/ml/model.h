// Model: a GGUF file loaded through llama.cpp, checked before llama.cpp sees it.
//
//   auto emb = ut::ml::Model::load("bge-small.gguf", ut::ml::ModelKind::embedder);
//   auto lm  = ut::ml::Model::load("qwen.gguf", ut::ml::ModelKind::decoder);
//   auto voc = ut::ml::Model::load_vocab("ggml-vocab-qwen2.gguf");     // tokenizer only, no weights
//   std::vector<int32_t> ids = voc->tokenize("Hello world", /*add_special=*/false);
//   std::string text = voc->detokenize(ids);
//   if (auto t = lm->chat_template()) { /* Jinja text stored in the file */ }
//   lm->info().id;                    // "qwen" (the file stem), or "debian-tinyllama" for the project's models
//
// Contract
// - load() throws ut::ml::ModelError naming the file and the problem for: a missing or unreadable file, a file
//   that is not GGUF, corrupt metadata, tensor data cut short (truncated download), a model of the other kind
//   (a decoder given as embedder or the reverse) and anything llama.cpp itself rejects (its message is
//   included). It never lets llama.cpp abort the process on these inputs.
// - Kind: an embedder is an encoder-only architecture (bert, nomic-bert, ...) or a file that declares
//   `<arch>.pooling_type`; everything else with a decoder is a decoder.
// - Immutable after load and thread-safe to share (shared_ptr); contexts are made by Embedder/Generator.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "timeline/error.h"

struct llama_model;
struct llama_vocab;

namespace ut::ml {

// A model file could not be used; what() names the file and the problem.
class ModelError : public ut::Error {
 public:
  using ut::Error::Error;
};

// A prompt longer than the context it must fit: the client's mistake (HTTP 400 context_length_exceeded).
class ContextLengthError : public ut::UsageError {
 public:
  ContextLengthError(const std::string& where, int prompt, int context)
      : ut::UsageError(where + " prompt of " + std::to_string(prompt) + " tokens does not fit the context of " +
                       std::to_string(context) + " tokens"),
        prompt_tokens(prompt), n_ctx(context) {}
  int prompt_tokens, n_ctx;
};

enum class ModelKind { embedder, decoder, vocab_only };
const char* to_string(ModelKind k) noexcept;

// Where the weights live. automatic: the GPU when ggml's CUDA backend loaded one (Runtime::gpu_name()), else
// the CPU. cpu: the CPU only, no op offload either, even with a GPU present (the reference for CPU-vs-GPU checks).
// gpu: the GPU, or ModelError when there is none.
enum class Placement { automatic, cpu, gpu };

struct ModelOptions {
  Placement placement = Placement::automatic;
  int gpu_layers = -1;  // with the GPU: layers offloaded (-1: all of them)
  bool mmap = true;
};

// What the GGUF header says, read without loading weights.
struct GgufInfo {
  std::string architecture;
  std::string name;         // general.name as written ("debian-tinyllama: Llama decoder trained on ...")
  std::string id;           // short id for APIs (model_name_of): "debian-tinyllama", or the file stem
  std::string description;  // the rest of general.name ("Llama decoder trained on ..."), or all of it
  ModelKind kind = ModelKind::decoder;
  uint64_t file_bytes = 0;
  uint64_t tensor_bytes = 0;
  int64_t tensors = 0;
};

class Model {
 public:
  static std::shared_ptr<Model> load(const std::string& path, ModelKind expected, const ModelOptions& opts = {});
  static std::shared_ptr<Model> load_vocab(const std::string& path);
  // Checks the file (exists, GGUF, metadata, data size) and reads its kind; throws ModelError.
  static GgufInfo inspect(const std::string& path);

  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  std::vector<int32_t> tokenize(std::string_view text, bool add_special, bool parse_special = false) const;
  std::string detokenize(const std::vector<int32_t>& tokens, bool special = false) const;
  std::string token_to_piece(int32_t token, bool special = false) const;
  bool is_end_of_generation(int32_t token) const;
  // Every end-of-generation token of the vocabulary (found once: a scan of 151k ids costs about a millisecond).
  const std::vector<int32_t>& end_of_generation_tokens() const;

  const std::string& path() const noexcept { return path_; }
  ModelKind kind() const noexcept { return kind_; }
  const GgufInfo& info() const noexcept { return info_; }
  std::string description() const;
  bool on_gpu() const noexcept { return on_gpu_; }
  // CPU threads for contexts of this model: every core on the CPU; at most 4 with the layers on the GPU, where
  // the CPU only looks up input embeddings and samples, and more of ggml's spinning threads take cores from the UI.
  int compute_threads() const;
  int n_embd() const;
  int n_ctx_train() const;
  int n_vocab() const;
  uint64_t n_params() const;
  uint64_t size_bytes() const;
  std::optional<std::string> chat_template() const;
  std::optional<std::string> meta(const std::string& key) const;

  llama_model* native() const noexcept { return model_; }
  const llama_vocab* vocab() const noexcept { return vocab_; }

 private:
  Model(std::string path, ModelKind kind, GgufInfo info, llama_model* m, bool on_gpu);
  std::string path_;
  ModelKind kind_;
  GgufInfo info_;
  llama_model* model_ = nullptr;
  const llama_vocab* vocab_ = nullptr;
  bool on_gpu_ = false;
  mutable std::once_flag eog_once_;
  mutable std::vector<int32_t> eog_;
};

using ModelPtr = std::shared_ptr<Model>;

// A model's short id and description. general.name of the form "slug: description" (the project's models:
// "debian-tinyllama: Llama decoder trained on Debian package descriptions") gives both; otherwise the id is
// the file name without folders and extension ("Qwen2.5-0.5B-Instruct-Q8_0" for .../Qwen2.5-0.5B-Instruct-Q8_0.gguf)
// and the description is general.name. Without a path, the name itself is made a slug ("tiny llama (x)" ->
// "tiny-llama-x"). Ids never hold spaces or colons.
struct ModelName {
  std::string id, description;
};
ModelName model_name_of(const std::string& general_name, const std::string& path = {});

// Cuts `ids` to max_tokens, keeping the last token in the last place when the vocabulary closes inputs with a
// separator ([SEP]/EOS); returns whether it cut. Embedder and the training tokenizer share it, so the models
// are trained on exactly what they are later given.
bool truncate_keeping_separator(std::vector<int32_t>& ids, int max_tokens, bool ends_with_separator);

// Writes `out` as the Q8_0 quantization of the F16/F32 GGUF `in` with llama.cpp's quantizer (all cores).
// Checks `in` first (Model::inspect); throws ModelError naming the file when either step fails.
void quantize_q8_0(const std::string& in, const std::string& out);

}  // namespace ut::ml
