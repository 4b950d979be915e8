#include "workloads/render/ui_model.h"

namespace ut::render {

const char* to_string(SqlStatus s) noexcept {
  switch (s) {
    case SqlStatus::idle: return "idle";
    case SqlStatus::running: return "running";
    case SqlStatus::done: return "done";
    case SqlStatus::failed: return "failed";
  }
  return "?";
}

}  // namespace ut::render
