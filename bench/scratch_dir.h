// ScratchDir: a benchmark's own temporary folder (models it writes, databases), removed with everything in it
// when the run ends, also when it throws.
//
//   ut::bench::ScratchDir tmp("ut-bench-decode");   // $TMPDIR/ut-bench-decode-<pid>
//   write_synthetic_model(spec, tmp.path() + "/model.gguf");
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace ut::bench {

class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix)
      : path_((std::filesystem::temp_directory_path() / (prefix + "-" + std::to_string(::getpid()))).string()) {
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

}  // namespace ut::bench
