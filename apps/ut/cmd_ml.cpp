// The ML lane's `ut` commands:
//   ut models synth [--real] [--out models/synth] [--seed N]   write synthetic GGUF models (random weights)
//   ut models check FILE [--kind embedder|decoder]             what a model file is, or why it cannot load
//   ut models tokenize --vocab bert-bge --in X.jsonl --field q  training data for tools/train/ (uint16 ids)
//   ut models import --spec debian-decoder --weights W.safetensors --out F.gguf   trained weights -> GGUF
//   ut models quantize IN.gguf OUT.gguf [--type q8_0]          llama.cpp's quantizer
// (`ut bench ml` lives in bench/ml.)
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "apps/ut/commands.h"
#include "workloads/ml/model.h"
#include "workloads/ml/runtime.h"
#include "workloads/ml/synth.h"
#include "workloads/ml/training_io.h"


namespace ut::app {
namespace {

struct SynthOptions {
  std::string out = "models/synth";
  bool real = false;
  uint64_t seed = 0;  // 0: each spec's default
};

int models_synth(const SynthOptions& o) {
  auto specs = o.real ? ml::SynthSpec::real_sizes() : ml::SynthSpec::test_sizes();
  std::printf("writing %s synthetic models (random weights, real vocabularies) into %s\n",
              o.real ? "real-size" : "test-size", o.out.c_str());
  for (auto& s : specs) {
    if (o.seed) s.seed = o.seed;
    const std::string path = o.out + "/" + s.file_name;
    const auto r = ml::write_synthetic_model(s, path);
    std::printf("  %-44s %8.1f MB  %6.1f M params  %3lld tensors  %5.1f s  (%s, %s vocab)\n", s.file_name.c_str(),
                static_cast<double>(r.bytes) / 1e6, static_cast<double>(r.params) / 1e6,
                static_cast<long long>(r.tensors), r.seconds, s.arch.c_str(), s.vocab.c_str());
  }
  return 0;
}

struct CheckOptions {
  std::string file;
  std::string kind;
};

int models_check(const CheckOptions& o) {
  try {
    const auto info = ml::Model::inspect(o.file);
    ml::ModelKind kind = info.kind;
    if (o.kind == "embedder") kind = ml::ModelKind::embedder;
    if (o.kind == "decoder") kind = ml::ModelKind::decoder;
    auto m = ml::Model::load(o.file, kind);
    std::printf("%s\n  kind %s, architecture %s, name '%s'\n  %s, %.1f M params, %.1f MB, n_embd %d, context %d, "
                "vocabulary %d tokens\n  chat template: %s\n",
                o.file.c_str(), ml::to_string(m->kind()), info.architecture.c_str(), info.name.c_str(),
                m->description().c_str(), static_cast<double>(m->n_params()) / 1e6,
                static_cast<double>(m->size_bytes()) / 1e6, m->n_embd(), m->n_ctx_train(), m->n_vocab(),
                m->chat_template() ? "from the file" : "none (chatml fallback)");
    return 0;
  } catch (const ml::ModelError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}

struct TokenizeOptions {
  ml::TokenizeJob job;
  std::string vocab;
};

int models_tokenize(TokenizeOptions o) {
  try {
    o.job.vocab_file = o.vocab.find('/') == std::string::npos && o.vocab.find(".gguf") == std::string::npos
                           ? ml::Runtime::vocab_dir() + "/ggml-vocab-" + o.vocab + ".gguf"
                           : o.vocab;
    const auto st = ml::tokenize_jsonl(o.job);
    std::printf("%s: %lld rows\n", o.job.in.c_str(), static_cast<long long>(st.rows));
    for (const auto& [f, n] : st.tokens)
      std::printf("  %-6s %10lld tokens, %lld truncated to %d -> %s.%s.u16\n", f.c_str(), static_cast<long long>(n),
                  static_cast<long long>(st.truncated.at(f)), o.job.max_tokens, o.job.out_prefix.c_str(), f.c_str());
    return 0;
  } catch (const ml::ModelError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}

struct ImportOptions {
  std::string spec, out;
  std::vector<std::string> weights;
};

int models_import(const ImportOptions& o) {
  try {
    const auto spec = o.spec == "debian-embedder" ? ml::SynthSpec::debian_embedder() : ml::SynthSpec::debian_decoder();
    const auto w = ml::SafetensorsWeights::open(o.weights);
    const std::string out = o.out.empty() ? "models/debian/" + spec.file_name : o.out;
    const auto r = ml::write_model(spec, out, {}, &w);
    std::printf("%s: %.1f MB, %.2f M params, %lld tensors from %zu in the weights (%s, %s vocab)\n", out.c_str(),
                static_cast<double>(r.bytes) / 1e6, static_cast<double>(r.params) / 1e6,
                static_cast<long long>(r.tensors), w.size(), spec.arch.c_str(), spec.vocab.c_str());
    if (static_cast<std::size_t>(r.tensors) != w.size())
      std::printf("  note: the weights hold %zu tensors the model does not use\n", w.size() - r.tensors);
    return 0;
  } catch (const ml::ModelError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}

int models_quantize(const std::string& in, const std::string& out, const std::string& type) {
  if (type != "q8_0") {
    std::fprintf(stderr, "ut models quantize: unsupported type '%s' (q8_0)\n", type.c_str());
    return 2;
  }
  try {
    ml::quantize_q8_0(in, out);
  } catch (const ml::ModelError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  std::printf("%s -> %s (%s, %.1f MB)\n", in.c_str(), out.c_str(), type.c_str(),
              static_cast<double>(std::filesystem::file_size(out)) / 1e6);
  return 0;
}

}  // namespace

void add_ml_commands(CLI::App& app, CLI::App&, int& rc) {
  auto* models = app.add_subcommand("models", "Model files: write synthetic GGUF models, check a model file");
  models->require_subcommand(1);

  auto so = std::make_shared<SynthOptions>();
  auto* s = models->add_subcommand(
      "synth", "Write deterministic GGUF models with seeded random weights and real llama.cpp vocabularies:\n"
               "test size (tiny bert + tiny llama) or, with --real, the bge-small and Qwen2.5-0.5B shapes (F16)");
  s->add_option("--out", so->out, "Folder to write into")->capture_default_str();
  s->add_flag("--real", so->real, "Real-size shapes for benchmarks (~1.1 GB)");
  s->add_option("--seed", so->seed, "Weight seed (default: each model's fixed seed)");
  s->callback([so, &rc] { rc = models_synth(*so); });

  auto co = std::make_shared<CheckOptions>();
  auto* c = models->add_subcommand("check", "Say what a model file is, or why it cannot be loaded");
  c->add_option("file", co->file, "GGUF file")->required();
  c->add_option("--kind", co->kind, "Expect embedder or decoder")->check(CLI::IsMember({"embedder", "decoder"}));
  c->callback([co, &rc] { rc = models_check(*co); });

  auto to = std::make_shared<TokenizeOptions>();
  auto* t = models->add_subcommand(
      "tokenize", "Tokenize string fields of a JSONL file with llama.cpp's tokenizer, for tools/train/:\n"
                  "PREFIX.FIELD.u16 (uint16 ids) and PREFIX.FIELD.off (int64 row offsets, n+1)");
  t->add_option("--vocab", to->vocab, "Vocabulary: bert-bge, llama-spm, qwen2... or a GGUF path")->required();
  t->add_option("--in", to->job.in, "JSONL input")->required()->check(CLI::ExistingFile);
  t->add_option("--field", to->job.fields, "String field(s) to tokenize")->required();
  t->add_option("--max-tokens", to->job.max_tokens, "Truncate each row to N tokens (keeps the closing [SEP])");
  t->add_flag("--append-eos", to->job.append_eos, "End each row with the EOS token (decoder training)");
  t->add_option("--out", to->job.out_prefix, "Output prefix")->required();
  t->callback([to, &rc] { rc = models_tokenize(*to); });

  auto io = std::make_shared<ImportOptions>();
  auto* im = models->add_subcommand("import", "Write a GGUF model from trained weights (safetensors with GGUF "
                                              "tensor names, from tools/train/)");
  im->add_option("--spec", io->spec, "Model shape")->required()->check(CLI::IsMember({"debian-embedder", "debian-decoder"}));
  im->add_option("--weights", io->weights, "Safetensors file(s)")->required()->check(CLI::ExistingFile);
  im->add_option("--out", io->out, "GGUF to write (default models/debian/<name>)");
  im->callback([io, &rc] { rc = models_import(*io); });

  auto qo = std::make_shared<std::array<std::string, 3>>();
  (*qo)[2] = "q8_0";
  auto* q = models->add_subcommand("quantize", "Quantize a GGUF model with llama.cpp's quantizer");
  q->add_option("in", (*qo)[0], "F16/F32 GGUF")->required()->check(CLI::ExistingFile);
  q->add_option("out", (*qo)[1], "GGUF to write")->required();
  q->add_option("--type", (*qo)[2], "Quantization")->capture_default_str();
  q->callback([qo, &rc] { rc = models_quantize((*qo)[0], (*qo)[1], (*qo)[2]); });
}

}  // namespace ut::app
