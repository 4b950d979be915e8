// ggml's threadpool functions live in the CPU backend library, which ggml loads at run time (one of several CPU
// variants), so they are looked up through the backend registry rather than linked.
#include "workloads/ml/cpu_threadpool.h"

#include <ggml-backend.h>
#include <ggml.h>
#include <llama.h>

#include <algorithm>
#include <cstdlib>
#include <string>

namespace ut::ml {
namespace {

using NewFn = ggml_threadpool_t (*)(ggml_threadpool_params*);
using FreeFn = void (*)(ggml_threadpool_t);

struct Fns {
  NewFn make = nullptr;
  FreeFn free = nullptr;
};

Fns fns() {
  static const Fns f = [] {
    Fns out;
    ggml_backend_dev_t dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (dev == nullptr) return out;
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
    out.make = reinterpret_cast<NewFn>(ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_new"));
    out.free = reinterpret_cast<FreeFn>(ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_free"));
    if (!out.make || !out.free) out = {};
    return out;
  }();
  return f;
}

}  // namespace

bool CpuThreadpool::enabled() {
  const char* v = std::getenv("UT_GGML_THREADPOOL");
  return v == nullptr || std::string(v) != "0";
}

CpuThreadpool::CpuThreadpool(int max_threads) {
  if (!enabled()) return;
  const Fns f = fns();
  if (!f.make) return;
  ggml_threadpool_params p = ggml_threadpool_params_default(std::clamp(max_threads, 1, GGML_MAX_N_THREADS));
  p.poll = 0;  // sleep between graphs: an idle lane leaves its cores to the others
  pool_ = f.make(&p);
}

CpuThreadpool::~CpuThreadpool() {
  if (pool_) fns().free(pool_);
}

void CpuThreadpool::attach(llama_context* ctx) const {
  if (pool_ && ctx) llama_attach_threadpool(ctx, pool_, pool_);
}

}  // namespace ut::ml
