// Fuzz target: loading mutated GGUF model files (workloads/ml/model.h). The input is written to a file and loaded
// as the engine loads models (Model::inspect, then Model::load with the kind it found, then a tokenize/detokenize
// round through the loaded vocabulary). The contract under test: a broken file is a ut::ml::ModelError that names
// the problem, never a crash, an abort inside llama.cpp or a hang.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/fuzz/fuzz_check.h"
#include "workloads/ml/model.h"

namespace {

const std::string& input_path() {
  static const std::string p =
      (std::filesystem::temp_directory_path() / ("ut-fuzz-gguf-" + std::to_string(getpid()) + ".gguf")).string();
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  {
    std::ofstream out(input_path(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    FUZZ_CHECK(out.good(), "cannot write the input file");
  }
  try {
    const ut::ml::GgufInfo info = ut::ml::Model::inspect(input_path());
    auto model = ut::ml::Model::load(input_path(), info.kind);
    const auto ids = model->tokenize("The quick brown fox: 12 apples.\n", /*add_special=*/true);
    (void)model->detokenize(ids);
    (void)model->chat_template();
  } catch (const ut::ml::ModelError& e) {
    FUZZ_CHECK(std::string(e.what()).find(input_path()) != std::string::npos, "a ModelError that does not name the file");
  }
  return 0;
}
