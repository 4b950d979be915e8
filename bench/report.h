// The one writer of the benchmark JSON schema "ut-bench/1" (every `ut bench X --json`, every file in
// docs/measurements). A suite fills a Report with every sample it measured; write() adds what every file
// carries: the schema name, the commit and dirty flag of the build, the date, this machine, the device, and a
// summary row per sample series.
//
//   ut::bench::Report r("mixed");
//   r.config() = {{"chats", 16}, {"tokens", 32}};
//   r.set_device(device->caps());
//   for (double ms : ttft) r.add("chats=16", "ours", "ttft_ms", "ms", ms);   // one sample at a time
//   r.add("chats=16", "sequential", "ttft_ms", "ms", sequential_ttft);      // or a whole series
//   r.add_goal({.kpi = "time to first token, 16 chats", .goal = "<= 200 ms", .case_name = "chats=16",
//               .metric = "ttft_ms", .value = 12.0, .met = true});
//   r.add_note("default models: random weights");
//   r.write("ut-bench-mixed.json");                                         // throws ut::Error when it cannot
//
// Contract
// - Samples are grouped by (case, side, metric); adding to an existing group appends (its unit must match,
//   else UsageError). Groups keep the order they were first added in, values the order they were measured in.
// - Non-finite values (NaN, inf) are not samples: they are skipped and counted in a note.
// - summary: n, median (mean of the two middle values for even n), min, max; p99 (nearest rank) only when
//   n >= 200, else null. A group with no values gets n = 0 and nulls.
// - commit and dirty come from the build (bench/version.cmake writes ut_version.h at every build): the
//   commit "unknown" and dirty null where git or the checkout was missing.
// - command: set_command(), else this process's command line (/proc/self/cmdline, the program without its
//   folder). device: set_device(), else the host CPU (what the CPU backend reports).
// Not thread-safe: one thread fills and writes it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "timeline/device.h"

namespace ut::bench {

inline constexpr const char* kSchema = "ut-bench/1";

// One (case, side, metric) series: "side" is "ours" for our engine, else the peer's name.
struct Series {
  std::string case_name, side, metric, unit;
  std::vector<double> values;
};

struct Summary {
  std::size_t n = 0;
  std::optional<double> median, min, max, p99;  // empty: no values (p99 also below 200 values)
};
Summary summarize(std::span<const double> values);

// A goal the suite checks (docs/measurements/SCHEMA.md): `goal` is "<= 25 ms", ">= 20000 1/s", "<= 1.10x raw CUDA",
// ">= 5x faster than duckdb" or "< llama-server". The optional texts are written only when set.
struct Goal {
  std::string kpi, goal, case_name, metric;  // "time to first token, 16 chats", "<= 200 ms", "chats=16", "ttft_ms"
  double value = 0;
  bool met = false;
  std::string peer;                   // empty: no peer figure
  std::optional<double> peer_value;
  std::string peer_metric;            // the peer's metric where it differs ("query_ms")
  std::string statistic;              // what `value` is when not the median ("p99", "best")
  std::string detail;                 // one line of context ("met for 3 of 5 queries")
  std::string caveat;                 // why the comparison is not like for like
};

// The commit the binary was built from (40 hex digits, or "unknown") and whether the working tree had
// uncommitted changes to tracked files then (empty: unknown).
struct BuildInfo {
  std::string commit;
  std::optional<bool> dirty;
};
BuildInfo build_info();

class Report {
 public:
  explicit Report(std::string suite);

  const std::string& suite() const noexcept { return suite_; }
  void set_command(std::string command) { command_ = std::move(command); }
  // Every knob that defines the run (sizes, reps, models, flags of the peer).
  nlohmann::ordered_json& config() noexcept { return config_; }
  const nlohmann::ordered_json& config() const noexcept { return config_; }
  void set_device(const DeviceCaps& caps);
  // A device known only by name (llama.cpp's CUDA backend, a remote server's card from nvidia-smi).
  void set_device(const std::string& backend, const std::string& name, const std::string& driver = {},
                  unsigned compute_units = 0, std::size_t memory_bytes = 0);

  void add(const std::string& case_name, const std::string& side, const std::string& metric,
           const std::string& unit, double value);
  void add(const std::string& case_name, const std::string& side, const std::string& metric,
           const std::string& unit, std::span<const double> values);
  void add_goal(Goal goal) { goals_.push_back(std::move(goal)); }
  void add_note(std::string note) { notes_.push_back(std::move(note)); }

  const std::vector<Series>& samples() const noexcept { return series_; }
  // The series of (case, side, metric); nullptr when nothing was added to it.
  const Series* find(const std::string& case_name, const std::string& side, const std::string& metric) const;

  // The whole document, dated now.
  nlohmann::ordered_json to_json() const;
  // to_json() into `path` (replaced); throws ut::Error when the file cannot be written.
  void write(const std::string& path) const;

 private:
  Series& series(const std::string& case_name, const std::string& side, const std::string& metric,
                 const std::string& unit);

  std::string suite_;
  std::optional<std::string> command_;
  nlohmann::ordered_json config_ = nlohmann::ordered_json::object();
  nlohmann::ordered_json device_;
  std::vector<Series> series_;
  std::vector<Goal> goals_;
  std::vector<std::string> notes_;
  std::size_t skipped_ = 0;  // non-finite values left out
};

// The current time as ISO-8601 UTC ("2026-12-07T04:50:00Z"), as the schema's "date" field has it.
std::string utc_now();

}  // namespace ut::bench
