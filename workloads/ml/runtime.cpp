#include "workloads/ml/runtime.h"

#include <ggml-backend.h>
#include <llama.h>
#include <sched.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "timeline/error.h"

namespace ut::ml {
namespace {

thread_local std::string t_log;
thread_local bool t_keep = false;  // the last non-continuation message was a warning or an error
thread_local bool t_error = false;  // ... an error
thread_local bool t_quiet = false;  // loading the backends: a backend that cannot load is expected, not news

bool log_to_stderr() {
  const char* v = std::getenv("UT_LLAMA_LOG");
  return v && *v && std::string(v) != "0";
}

void log_callback(ggml_log_level level, const char* text, void*) {
  static const bool echo = log_to_stderr();
  // Errors always reach stderr too: ggml aborts the process right after logging a CUDA error, so the per-thread
  // buffer would never be read and the reason ("invalid resource handle", ...) would be lost.
  if (level != GGML_LOG_LEVEL_CONT) t_error = level == GGML_LOG_LEVEL_ERROR;
  if (echo || (t_error && !t_quiet)) std::fputs(text, stderr);
  if (level != GGML_LOG_LEVEL_CONT) t_keep = level == GGML_LOG_LEVEL_ERROR || level == GGML_LOG_LEVEL_WARN;
  if (!t_keep) return;
  std::string s(text);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (s.empty()) return;
  if (!t_log.empty() && level != GGML_LOG_LEVEL_CONT) t_log += "; ";
  t_log += s;
  if (t_log.size() > 4000) t_log.erase(0, t_log.size() - 4000);  // keep the latest
}

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : std::string(fallback);
}

ggml_backend_dev_t first_gpu() {
  for (std::size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    ggml_backend_dev_t d = ggml_backend_dev_get(i);
    if (ggml_backend_dev_type(d) == GGML_BACKEND_DEVICE_TYPE_GPU) return d;
  }
  return nullptr;
}

}  // namespace

std::string Runtime::lib_dir() { return env_or("UT_LLAMA_LIB_DIR", UT_LLAMA_LIB_DIR_DEFAULT); }
std::string Runtime::cuda_dir() { return env_or("UT_LLAMA_CUDA_DIR", UT_LLAMA_CUDA_DIR_DEFAULT); }
std::string Runtime::vocab_dir() { return env_or("UT_LLAMA_VOCAB_DIR", UT_LLAMA_VOCAB_DIR_DEFAULT); }

int Runtime::threads() {
  if (const char* v = std::getenv("UT_ML_THREADS"); v && *v) {
    const int n = std::atoi(v);
    if (n > 0) return n;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc ? static_cast<int>(hc) : 1;
}

void Runtime::ensure() {
  static std::once_flag once;
  static std::string failure;
  std::call_once(once, [] {
    llama_log_set(log_callback, nullptr);
    const std::string dir = lib_dir();
    if (!std::filesystem::is_directory(dir)) {
      failure = "[Runtime::ensure] llama.cpp library folder '" + dir +
                "' does not exist (set UT_LLAMA_LIB_DIR, or run scripts/setup.sh)";
      return;
    }
    t_quiet = true;
    ggml_backend_load_all_from_path(dir.c_str());
    t_quiet = false;
    const std::string want = env_or("UT_ML_DEVICE", "auto");
    if (want != "auto" && want != "cpu" && want != "cuda") {
      failure = "[Runtime::ensure] UT_ML_DEVICE='" + want + "': expected auto, cpu or cuda";
      return;
    }
    const std::string cuda_lib = cuda_dir() + "/libggml-cuda.so";
    if (want != "cpu" && std::filesystem::exists(cuda_lib)) {
      // Fails (returns null, logs why) without a driver or a GPU; the lane then stays on the CPU.
      t_quiet = true;
      const bool loaded = ggml_backend_load(cuda_lib.c_str()) != nullptr;
      t_quiet = false;
      if (!loaded && want == "cuda")
        failure = "[Runtime::ensure] UT_ML_DEVICE=cuda but " + cuda_lib + " did not load: " + t_log;
    } else if (want == "cuda") {
      failure = "[Runtime::ensure] UT_ML_DEVICE=cuda but " + cuda_lib +
                " does not exist (run scripts/build-ggml-cuda.sh, or set UT_LLAMA_CUDA_DIR)";
    }
    if (!failure.empty()) return;
    llama_backend_init();
    if (ggml_backend_dev_count() == 0)
      failure = "[Runtime::ensure] no ggml backend loaded from '" + dir +
                "' (expected libggml-cpu-*.so there; set UT_LLAMA_LIB_DIR)";
    else if (want == "cuda" && !first_gpu())
      failure = "[Runtime::ensure] UT_ML_DEVICE=cuda but the CUDA backend found no GPU: " + t_log;
  });
  if (!failure.empty()) throw BackendError(failure);
}

ggml_backend_device* Runtime::gpu_device() {
  ensure();
  return first_gpu();
}

std::string Runtime::gpu_name() {
  ggml_backend_dev_t d = gpu_device();
  if (!d) return "";
  return std::string(ggml_backend_dev_description(d)) + " (" + ggml_backend_dev_name(d) + ")";
}

std::string Runtime::system_info() {
  ensure();
  return llama_print_system_info();
}

std::string Runtime::last_log() { return t_log; }
Runtime::QuietErrors::QuietErrors() : was_(t_quiet) { t_quiet = true; }
Runtime::QuietErrors::~QuietErrors() { t_quiet = was_; }

void Runtime::clear_log() { t_log.clear(); }

}  // namespace ut::ml
