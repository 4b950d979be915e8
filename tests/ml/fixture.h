// Shared set-up for the ML tests: tiny synthetic models written once per process into a temp folder.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace ut::ml {
class Model;
}

namespace ut::ml::test {

// llama.cpp's row of logits at every position of `tokens`, decoded in one batch by a fresh context of the model
// (one thread: the test models are small, and more threads only spin on a 2-core machine).
std::vector<std::vector<float>> llama_logits_at_every_position(const Model& model, const std::vector<int32_t>& tokens);

const std::string& temp_dir();
const std::string& tiny_embedder_path();  // bert, bert-bge vocab, random weights
const std::string& tiny_decoder_path();   // llama, llama-spm vocab, random weights
// qwen2, qwen2 vocab, random weights: 4 query / 2 KV heads, q/k/v biases, untied output, RoPE base 1e6
const std::string& tiny_qwen2_path();
std::string vocab_path(const std::string& name);  // llama.cpp's models/ggml-vocab-<name>.gguf
// The project's trained models: $UT_DEBIAN_MODELS_DIR, else models/debian in the source tree.
std::string debian_models_dir();

// A fresh seed per run (printed by the caller via SCOPED_TRACE) and random short sentences.
uint64_t fresh_seed();
std::vector<std::string> random_sentences(std::mt19937_64& rng, std::size_t n, int min_words = 3, int max_words = 12);
// n token ids drawn uniformly from [0, n_vocab).
std::vector<int32_t> random_tokens(int n_vocab, int n, uint64_t seed);

}  // namespace ut::ml::test
