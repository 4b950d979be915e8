#include "timeline/trace.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "timeline/error.h"

namespace ut {
namespace {

std::string json_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

// Microseconds relative to t0, with nanosecond precision kept.
std::string us(uint64_t t, uint64_t t0) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(t - std::min(t, t0)) / 1000.0);
  return buf;
}

}  // namespace

void Trace::add(TraceRecord r) {
  std::lock_guard lock(mutex_);
  records_.push_back(std::move(r));
  while (records_.size() > capacity_) {
    records_.pop_front();
    ++dropped_;
  }
}

void Trace::mark(std::string name, uint64_t time_ns) {
  std::lock_guard lock(mutex_);
  marks_.emplace_back(std::move(name), time_ns);
  if (marks_.size() > capacity_) marks_.erase(marks_.begin(), marks_.begin() + static_cast<long>(capacity_ / 2));
}

std::vector<TraceRecord> Trace::snapshot() const {
  std::lock_guard lock(mutex_);
  return {records_.begin(), records_.end()};
}

std::vector<TraceRecord> Trace::since(uint64_t since_ns) const {
  std::lock_guard lock(mutex_);
  std::vector<TraceRecord> out;
  for (auto& r : records_)
    if (r.end_ns >= since_ns) out.push_back(r);
  return out;
}

std::size_t Trace::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

void Trace::clear() {
  std::lock_guard lock(mutex_);
  records_.clear();
  marks_.clear();
  dropped_ = 0;
}

std::string Trace::chrome_json(uint64_t since_ns) const {
  std::vector<TraceRecord> recs = since(since_ns);
  std::vector<std::pair<std::string, uint64_t>> marks;
  {
    std::lock_guard lock(mutex_);
    for (auto& m : marks_)
      if (m.second >= since_ns) marks.push_back(m);
  }
  std::sort(recs.begin(), recs.end(), [](auto& a, auto& b) { return a.start_ns < b.start_ns; });
  uint64_t t0 = UINT64_MAX;
  for (auto& r : recs) t0 = std::min(t0, r.committed_ns ? r.committed_ns : r.start_ns);
  for (auto& m : marks) t0 = std::min(t0, m.second);
  if (t0 == UINT64_MAX) t0 = 0;

  std::ostringstream o;
  o << "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n";
  bool first = true;
  auto sep = [&] {
    if (!first) o << ",\n";
    first = false;
  };
  // One track (tid) per queue, named "label (kind)"; tid 0 is the host track for marks.
  std::map<uint32_t, std::string> queues;
  for (auto& r : recs) queues.emplace(r.queue_id, r.queue_label + " (" + r.queue_kind + ")");
  sep();
  o << R"({"ph":"M","pid":1,"tid":0,"name":"thread_name","args":{"name":"host"}})";
  for (auto& [id, name] : queues) {
    sep();
    o << R"({"ph":"M","pid":1,"tid":)" << id << R"(,"name":"thread_name","args":{"name":")" << json_escape(name)
      << "\"}}";
  }
  // Signals by event, to draw flow arrows from a signal to the first waits it released.
  struct Sig {
    uint64_t value, time;
    uint32_t tid;
  };
  std::map<uint64_t, std::vector<Sig>> sigs;
  for (auto& r : recs)
    for (auto& s : r.signals) sigs[s.event_id].push_back({s.value, s.time_ns, r.queue_id});
  for (auto& [id, v] : sigs) std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.value < b.value; });
  // The signal that released a wait: the first recorded one of at least the waited value.
  const auto releaser = [&](const TraceWait& w) -> Sig* {
    auto it = sigs.find(w.event_id);
    if (it == sigs.end()) return nullptr;
    auto sit = std::find_if(it->second.begin(), it->second.end(), [&](const Sig& s) { return s.value >= w.value; });
    return sit == it->second.end() ? nullptr : &*sit;
  };
  // A GPU signal is recorded when the host sees it complete, which can be after the GPU already released its
  // waiters (a stream wait needs no host): a signal happened no later than the end of any wait it released, so
  // its time is clamped to that (the counter and the flow then agree, and no flow is lost or runs backwards).
  // Assumed: a wait is released by the first recorded signal of at least its value (a host signal of the same
  // event is not recorded; mixing both on one event would attribute the wait to the later GPU signal).
  for (auto& r : recs)
    for (auto& w : r.waits)
      if (Sig* s = releaser(w)) s->time = std::min(s->time, r.end_ns);
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> signal_time;  // (event, value) -> time, for the counters
  for (auto& [id, v] : sigs)
    for (auto& s : v) signal_time[{id, s.value}] = s.time;

  uint64_t flow_id = 1;
  for (auto& r : recs) {
    sep();
    o << R"({"ph":"X","pid":1,"tid":)" << r.queue_id << R"(,"name":")" << json_escape(r.label) << R"(","cat":")"
      << (r.failed ? "failed" : "cb") << R"(","ts":)" << us(r.start_ns, t0) << R"(,"dur":)"
      << us(r.end_ns, r.start_ns) << R"(,"args":{"queued_us":)" << us(r.start_ns, r.committed_ns);
    if (r.failed) o << R"(,"error":")" << json_escape(r.error) << '"';
    o << "}}";
    for (auto& s : r.signals) {
      sep();
      o << R"({"ph":"C","pid":1,"name":")" << json_escape(s.event_label) << R"(","ts":)"
        << us(signal_time.at({s.event_id, s.value}), t0) << R"(,"args":{"value":)" << s.value << "}}";
    }
    for (auto& w : r.waits) {
      const Sig* sit = releaser(w);
      if (!sit) continue;
      const uint64_t at = sit->time;
      const std::string name = json_escape(w.event_label) + ">=" + std::to_string(w.value);
      sep();
      o << R"({"ph":"s","pid":1,"tid":)" << sit->tid << R"(,"id":)" << flow_id << R"(,"cat":"event","name":")" << name
        << R"(","ts":)" << us(at, t0) << "}";
      sep();
      o << R"({"ph":"f","bp":"e","pid":1,"tid":)" << r.queue_id << R"(,"id":)" << flow_id << R"(,"cat":"event","name":")"
        << name << R"(","ts":)" << us(std::max(r.start_ns, at), t0) << "}";
      ++flow_id;
    }
  }
  for (auto& [name, t] : marks) {
    sep();
    o << R"({"ph":"i","s":"t","pid":1,"tid":0,"name":")" << json_escape(name) << R"(","ts":)" << us(t, t0) << "}";
  }
  o << "\n]}\n";
  return o.str();
}

void Trace::write_chrome_json(const std::string& path, uint64_t since_ns) const {
  const std::string json = chrome_json(since_ns);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw Error("[Trace::write_chrome_json] cannot open '" + tmp + "' for writing");
    f << json;
    if (!f.flush()) throw Error("[Trace::write_chrome_json] write to '" + tmp + "' failed");
  }
  // Rename so a reader never sees half a file.
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    throw Error("[Trace::write_chrome_json] cannot rename '" + tmp + "' to '" + path + "'");
  }
}

}  // namespace ut
