// Trace: every command buffer's queue, label, timestamps and signals — the picture of the unified timeline.
//
//   dev->trace().write_chrome_json("timeline.json");   // open in ui.perfetto.dev or chrome://tracing
//   for (auto& r : dev->trace().snapshot()) ...;          // records, oldest first
//
// Contract: thread-safe; bounded (oldest records dropped first; dropped() counts them). Record times use
// ut::now_ns(). Queues add a record when a command buffer finishes; callers may add instant marks.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace ut {

struct TraceSignal {
  uint64_t event_id;
  std::string event_label;
  uint64_t value;
  uint64_t time_ns;
};

struct TraceWait {
  uint64_t event_id;
  std::string event_label;
  uint64_t value;
};

struct TraceRecord {
  uint32_t queue_id = 0;
  std::string queue_label;
  std::string queue_kind;
  uint64_t cb_id = 0;
  std::string label;
  uint64_t committed_ns = 0, start_ns = 0, end_ns = 0;
  bool failed = false;
  std::string error;
  std::vector<TraceSignal> signals;
  std::vector<TraceWait> waits;
};

class Trace {
 public:
  explicit Trace(std::size_t capacity = 1 << 16) : capacity_(capacity) {}

  void add(TraceRecord r);
  void mark(std::string name, uint64_t time_ns);  // an instant marker on the "host" track
  std::vector<TraceRecord> snapshot() const;
  // Records whose end is at or after since_ns.
  std::vector<TraceRecord> since(uint64_t since_ns) const;
  std::size_t dropped() const;
  void clear();

  // Chrome trace-event JSON: one track per queue, a slice per command buffer, flow arrows from each signal to
  // the waits it released, instant markers. Only records ending at or after since_ns.
  std::string chrome_json(uint64_t since_ns = 0) const;
  void write_chrome_json(const std::string& path, uint64_t since_ns = 0) const;  // throws Error on I/O failure

 private:
  mutable std::mutex mutex_;
  std::size_t capacity_;
  std::deque<TraceRecord> records_;
  std::vector<std::pair<std::string, uint64_t>> marks_;
  std::size_t dropped_ = 0;
};

}  // namespace ut
