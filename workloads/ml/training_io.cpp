#include "workloads/ml/training_io.h"

#include <ggml.h>
#include <llama.h>
#include <nlohmann/json.hpp>

#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "workloads/ml/model.h"

namespace ut::ml {
namespace {

static_assert(std::endian::native == std::endian::little, "token and weight files are little-endian");

[[noreturn]] void fail(const std::string& where, const std::string& problem) {
  throw ModelError("[" + where + "] " + problem);
}

float bf16_to_f32(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

}  // namespace

TokenizeStats tokenize_jsonl(const TokenizeJob& job) {
  const std::string where = "tokenize_jsonl " + job.in;
  auto model = Model::load_vocab(job.vocab_file);
  const llama_vocab* vocab = model->vocab();
  if (model->n_vocab() > 65536) fail(where, "vocabulary of " + std::to_string(model->n_vocab()) + " tokens does not fit uint16");
  const bool ends_with_sep = llama_vocab_get_add_sep(vocab) || llama_vocab_get_add_eos(vocab);
  const int32_t eos = llama_vocab_eos(vocab);
  if (job.append_eos && eos < 0) fail(where, "the vocabulary has no EOS token");

  std::ifstream in(job.in);
  if (!in) fail(where, "cannot open the input");
  std::filesystem::path prefix(job.out_prefix);
  if (prefix.has_parent_path()) std::filesystem::create_directories(prefix.parent_path());
  struct Out {
    std::ofstream tok, off;
    int64_t n = 0;
  };
  std::map<std::string, Out> outs;
  TokenizeStats stats;
  for (const auto& f : job.fields) {
    auto& o = outs[f];
    o.tok.open(job.out_prefix + "." + f + ".u16", std::ios::binary);
    o.off.open(job.out_prefix + "." + f + ".off", std::ios::binary);
    if (!o.tok || !o.off) fail(where, "cannot write " + job.out_prefix + "." + f + ".*");
    const int64_t zero = 0;
    o.off.write(reinterpret_cast<const char*>(&zero), sizeof zero);
    stats.tokens[f] = stats.truncated[f] = 0;
  }
  std::string line;
  std::vector<uint16_t> buf;
  for (int64_t lineno = 1; std::getline(in, line); ++lineno) {
    if (line.empty()) continue;
    nlohmann::json row;
    try {
      row = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      fail(where, "line " + std::to_string(lineno) + ": " + e.what());
    }
    for (const auto& f : job.fields) {
      if (!row.contains(f) || !row[f].is_string()) fail(where, "line " + std::to_string(lineno) + " has no string '" + f + "'");
      auto ids = model->tokenize(row[f].get<std::string>(), /*add_special=*/true, /*parse_special=*/true);
      if (truncate_keeping_separator(ids, job.max_tokens, ends_with_sep)) ++stats.truncated[f];  // as Embedder
      if (job.append_eos) ids.push_back(eos);
      buf.assign(ids.begin(), ids.end());
      auto& o = outs[f];
      o.tok.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(buf.size() * 2));
      o.n += static_cast<int64_t>(buf.size());
      o.off.write(reinterpret_cast<const char*>(&o.n), sizeof o.n);
      stats.tokens[f] += static_cast<int64_t>(buf.size());
    }
    ++stats.rows;
  }
  for (auto& [f, o] : outs) {
    o.tok.flush();
    o.off.flush();
    if (!o.tok || !o.off) fail(where, "write failed for field '" + f + "' (disk full?)");
  }
  return stats;
}

SafetensorsWeights SafetensorsWeights::open(const std::vector<std::string>& files) {
  SafetensorsWeights w;
  for (const auto& file : files) {
    std::ifstream f(file, std::ios::binary);
    if (!f) fail("SafetensorsWeights " + file, "cannot open");
    uint64_t n = 0;
    f.read(reinterpret_cast<char*>(&n), 8);
    const uint64_t size = std::filesystem::file_size(file);
    if (!f || n == 0 || n + 8 > size) fail("SafetensorsWeights " + file, "not a safetensors file (bad header length)");
    std::string header(n, '\0');
    f.read(header.data(), static_cast<std::streamsize>(n));
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(header);
    } catch (const nlohmann::json::parse_error& e) {
      fail("SafetensorsWeights " + file, std::string("header: ") + e.what());
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "__metadata__") {
        for (auto m = it->begin(); m != it->end(); ++m)
          if (m->is_string()) w.metadata_[m.key()] = m->get<std::string>();
        continue;
      }
      Entry e;
      e.file = file;
      e.dtype = (*it)["dtype"].get<std::string>();
      e.shape = (*it)["shape"].get<std::vector<int64_t>>();
      const auto offs = (*it)["data_offsets"].get<std::vector<uint64_t>>();
      if (offs.size() != 2 || offs[1] < offs[0] || 8 + n + offs[1] > size)
        fail("SafetensorsWeights " + file, "tensor '" + it.key() + "' lies outside the file (truncated?)");
      e.begin = 8 + n + offs[0];
      e.end = 8 + n + offs[1];
      if (!w.tensors_.emplace(it.key(), e).second) fail("SafetensorsWeights " + file, "tensor '" + it.key() + "' twice");
    }
  }
  return w;
}

void SafetensorsWeights::read(const std::string& name, const std::vector<int64_t>& ne, std::span<float> out) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) fail("SafetensorsWeights", "no tensor '" + name + "' in the weights");
  const Entry& e = it->second;
  // PyTorch lists the slowest dimension first; ggml the fastest.
  std::vector<int64_t> want(ne.rbegin(), ne.rend());
  while (want.size() > 1 && want.front() == 1) want.erase(want.begin());
  if (e.shape != want) {
    std::string got, exp;
    for (auto d : e.shape) got += std::to_string(d) + " ";
    for (auto d : want) exp += std::to_string(d) + " ";
    fail("SafetensorsWeights " + e.file, "tensor '" + name + "' has shape [ " + got + "], the model needs [ " + exp + "]");
  }
  const std::size_t width = e.dtype == "F32" ? 4 : (e.dtype == "F16" || e.dtype == "BF16") ? 2 : 0;
  if (!width) fail("SafetensorsWeights " + e.file, "tensor '" + name + "' has dtype " + e.dtype + " (F32, F16 or BF16)");
  if ((e.end - e.begin) != out.size() * width)
    fail("SafetensorsWeights " + e.file, "tensor '" + name + "' has the wrong byte size");
  std::ifstream f(e.file, std::ios::binary);
  f.seekg(static_cast<std::streamoff>(e.begin));
  std::vector<char> raw(e.end - e.begin);
  f.read(raw.data(), static_cast<std::streamsize>(raw.size()));
  if (!f) fail("SafetensorsWeights " + e.file, "cannot read tensor '" + name + "'");
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (width == 4) {
      std::memcpy(&out[i], raw.data() + i * 4, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, raw.data() + i * 2, 2);
      out[i] = e.dtype == "F16" ? ggml_fp16_to_fp32(h) : bf16_to_f32(h);
    }
  }
}

}  // namespace ut::ml
