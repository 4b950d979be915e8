// A persistent ggml CPU threadpool for one llama.cpp context (internal to ut_ml).
//
//   CpuThreadpool pool(Runtime::threads());   // the threads start here, once
//   pool.attach(ctx);                         // every later decode of ctx runs on them
//   llama_set_n_threads(ctx, 1, 1);           // a step may use fewer (the core budget shrinks a lane)
//
// Why: without one, ggml starts and joins a fresh set of threads for every graph it computes, i.e. for every
// decoded token and every embedding batch (the prebuilt libraries have no OpenMP). The pool's threads are made once
// and sleep on a condition variable between graphs (poll = 0), so a lane that is not computing uses no CPU and a
// step does not pay thread start-up. $UT_GGML_THREADPOOL=0 turns it off (ggml's per-graph threads), for comparison.
// Without the CPU backend's entry points (an old or unusual ggml) the pool is inactive and ggml keeps its own.
#pragma once

struct llama_context;
struct ggml_threadpool;

namespace ut::ml {

class CpuThreadpool {
 public:
  explicit CpuThreadpool(int max_threads);
  ~CpuThreadpool();
  CpuThreadpool(const CpuThreadpool&) = delete;
  CpuThreadpool& operator=(const CpuThreadpool&) = delete;

  // Decodes of ctx run on this pool until ctx is freed (which must happen before the pool is destroyed).
  void attach(llama_context* ctx) const;
  bool active() const noexcept { return pool_ != nullptr; }
  static bool enabled();  // $UT_GGML_THREADPOOL is not "0"

 private:
  ggml_threadpool* pool_ = nullptr;
};

}  // namespace ut::ml
