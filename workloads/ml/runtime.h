// Process-wide llama.cpp set-up shared by Model, Embedder and Generator (internal to ut_ml).
//
//   ut::ml::Runtime::ensure();                  // loads the ggml backends once (thread-safe)
//   int n = ut::ml::Runtime::threads();         // real usable cores (UT_ML_THREADS overrides)
//   std::string dir = ut::ml::Runtime::vocab_dir();
//
// Contract
// - ensure() calls ggml_backend_load_all_from_path(lib_dir()) exactly once; without it no CPU backend loads.
//   lib_dir() is $UT_LLAMA_LIB_DIR, else the build-time .deps/llama/lib. Throws ut::BackendError naming the
//   folder when no backend loads.
// - GPU: ensure() also loads ggml's CUDA backend from cuda_dir()/libggml-cuda.so when that file exists and
//   $UT_ML_DEVICE is not "cpu". Without a driver or a GPU the load fails quietly and the lane stays on the CPU;
//   gpu_name() then returns "". $UT_ML_DEVICE=cuda makes a missing GPU an error instead.
// - llama.cpp's log goes to a per-thread buffer (last_log()) instead of stderr, so errors can name its reason;
//   UT_LLAMA_LOG=1 also prints it; errors are printed to stderr always (ggml aborts right after a CUDA error).
#pragma once

#include <string>

struct ggml_backend_device;

namespace ut::ml {

class Runtime {
 public:
  static void ensure();
  static std::string lib_dir();
  static std::string vocab_dir();  // llama.cpp's models/ folder (ggml-vocab-*.gguf); $UT_LLAMA_VOCAB_DIR overrides
  static std::string cuda_dir();   // folder of libggml-cuda.so; $UT_LLAMA_CUDA_DIR overrides
  // The first GPU that ggml loaded ("NVIDIA H200 (CUDA0)"), or "" when the lane runs on the CPU only.
  static std::string gpu_name();
  // The GPU's ggml device, or nullptr (the same condition as gpu_name().empty()).
  static struct ggml_backend_device* gpu_device();
  static int threads();            // CPUs this process may run on (sched_getaffinity), or $UT_ML_THREADS
  static std::string system_info();
  // llama.cpp's warnings and errors logged on this thread since clear_log(), joined into one line.
  static std::string last_log();
  static void clear_log();
  // While alive, llama.cpp's errors on this thread are kept for last_log() but not echoed to stderr: for a call
  // that may fail on purpose (an embedding batch its abort check stops).
  class QuietErrors {
   public:
    QuietErrors();
    ~QuietErrors();
    QuietErrors(const QuietErrors&) = delete;
    QuietErrors& operator=(const QuietErrors&) = delete;

   private:
    bool was_;
  };
};

}  // namespace ut::ml
