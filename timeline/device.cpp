#include "timeline/device.h"

#include <cstdlib>
#include <cstring>

#include "timeline/validator.h"

namespace ut {
namespace {
bool env_validation() {
  const char* v = std::getenv("UT_VALIDATION");
  return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}
}  // namespace

Device::Device(const DeviceDesc& desc) : trace_(desc.trace_capacity) {
  if (desc.validation || env_validation()) validator_ = std::make_unique<Validator>(desc.unsatisfiable_wait_grace);
}

Device::~Device() = default;

Buffer Device::make_buffer(std::size_t bytes, StorageMode mode, std::string label) {
  auto heap = make_heap({bytes, mode, label});
  return heap->allocate(bytes, 1, std::move(label));
}

}  // namespace ut
