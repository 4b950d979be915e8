#include "timeline/kernel.h"

#include "timeline/error.h"

namespace ut {

void DispatchContext::throw_bad_constants(std::size_t wanted) const {
  throw UsageError("[DispatchContext::constants] kernel expects " + std::to_string(wanted) +
                   " bytes of constants, the dispatch passed " + std::to_string(args->constants.size()));
}

bool KernelRegistry::add(const std::string& name, const std::string& backend, KernelFn fn) {
  if (name.empty() || backend.empty() || !fn) throw UsageError("[KernelRegistry::add] empty name, backend or function");
  std::lock_guard lock(mutex_);
  return fns_.emplace(backend + '/' + name, std::move(fn)).second;
}

const KernelFn* KernelRegistry::find(const std::string& name, const std::string& backend) const {
  std::lock_guard lock(mutex_);
  auto it = fns_.find(backend + '/' + name);
  return it == fns_.end() ? nullptr : &it->second;
}

KernelRegistry& kernels() {
  static KernelRegistry registry;
  return registry;
}

}  // namespace ut
