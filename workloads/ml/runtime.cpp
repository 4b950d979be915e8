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

bool log_to_stderr() {
  const char* v = std::getenv("UT_LLAMA_LOG");
  return v && *v && std::string(v) != "0";
}

void log_callback(ggml_log_level level, const char* text, void*) {
  static const bool echo = log_to_stderr();
  if (echo) std::fputs(text, stderr);
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

}  // namespace

std::string Runtime::lib_dir() { return env_or("UT_LLAMA_LIB_DIR", UT_LLAMA_LIB_DIR_DEFAULT); }
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
    ggml_backend_load_all_from_path(dir.c_str());
    llama_backend_init();
    if (ggml_backend_dev_count() == 0)
      failure = "[Runtime::ensure] no ggml backend loaded from '" + dir +
                "' (expected libggml-cpu-*.so there; set UT_LLAMA_LIB_DIR)";
  });
  if (!failure.empty()) throw BackendError(failure);
}

std::string Runtime::system_info() {
  ensure();
  return llama_print_system_info();
}

std::string Runtime::last_log() { return t_log; }
void Runtime::clear_log() { t_log.clear(); }

}  // namespace ut::ml
