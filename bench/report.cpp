#include "bench/report.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string_view>

#include "timeline/error.h"
#include "timeline/host.h"
#include "ut_version.h"  // generated at build time by bench/version.cmake

namespace ut::bench {
namespace {

using ojson = nlohmann::ordered_json;

ojson number_or_null(const std::optional<double>& x) { return x ? ojson(*x) : ojson(nullptr); }


std::string os_name() {
  std::ifstream f("/etc/os-release");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("PRETTY_NAME=", 0) != 0) continue;
    std::string v = line.substr(12);
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'')) v = v.substr(1, v.size() - 2);
    return v;
  }
  return "Linux";
}

// An argument as a shell reads it back: bare when it is plain, else in single quotes.
std::string shell_word(const std::string& a) {
  constexpr std::string_view kSafe = "-_./=:,@+%";
  const bool plain = !a.empty() && std::all_of(a.begin(), a.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || kSafe.find(c) != std::string_view::npos;
  });
  if (plain) return a;
  std::string q = "'";
  for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// This process's argv joined, the program named without its folder: "ut bench mixed --chats 16".
std::string process_command() {
  std::ifstream f("/proc/self/cmdline", std::ios::binary);
  const std::string raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::string out;
  std::size_t start = 0;
  for (std::size_t i = 0; start < raw.size(); ++i) {
    const std::size_t end = std::min(raw.find('\0', start), raw.size());
    std::string arg = raw.substr(start, end - start);
    if (i == 0) arg = std::filesystem::path(arg).filename().string();
    out += (i ? " " : "") + shell_word(arg);
    start = end + 1;
  }
  return out;
}

ojson machine() {
  const HostInfo h = host_info();
  return {{"cpu", h.cpu_name}, {"cores", h.cores}, {"memory_bytes", h.memory_total}, {"os", os_name()}};
}

// Text from servers and models may hold invalid UTF-8: replaced, never a throw halfway through a run.
std::string dump(const ojson& j, int indent = -1) {
  return j.dump(indent, ' ', false, ojson::error_handler_t::replace);
}

// Indented JSON with one samples / summary / goals entry per line: thousands of samples stay readable, and a
// diff of two files shows which series changed.
std::string document_text(const ojson& doc) {
  std::string out = "{";
  bool first = true;
  for (const auto& [key, value] : doc.items()) {
    out += (first ? "\n  " : ",\n  ") + dump(ojson(key)) + ": ";
    first = false;
    const bool rows = key == "samples" || key == "summary" || key == "goals";
    if (rows && value.is_array() && !value.empty()) {
      out += "[";
      for (std::size_t i = 0; i < value.size(); ++i) out += (i ? ",\n    " : "\n    ") + dump(value[i]);
      out += "\n  ]";
    } else {
      std::string nested = dump(value, 2);
      for (std::size_t p = 0; (p = nested.find('\n', p)) != std::string::npos; p += 3) nested.replace(p, 1, "\n  ");
      out += nested;
    }
  }
  return out + "\n}\n";
}

ojson series_key(const Series& s) {
  return {{"case", s.case_name}, {"side", s.side}, {"metric", s.metric}, {"unit", s.unit}};
}

}  // namespace

Summary summarize(std::span<const double> values) {
  Summary s;
  s.n = values.size();
  if (values.empty()) return s;
  std::vector<double> v(values.begin(), values.end());
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  s.min = v.front();
  s.max = v.back();
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  if (n >= 200) {
    // Nearest rank: the smallest value with at least 99% of the values at or below it.
    const auto rank = static_cast<std::size_t>(std::ceil(0.99 * static_cast<double>(n)));
    s.p99 = v[std::clamp<std::size_t>(rank, 1, n) - 1];
  }
  return s;
}

BuildInfo build_info() {
  BuildInfo b{UT_GIT_COMMIT, std::nullopt};
  if (UT_GIT_DIRTY >= 0) b.dirty = UT_GIT_DIRTY == 1;
  return b;
}

Report::Report(std::string suite) : suite_(std::move(suite)) {
  const HostInfo h = host_info();
  set_device("cpu", h.cpu_name, "host", h.cores, h.memory_total);
}

void Report::set_device(const DeviceCaps& caps) {
  set_device(caps.backend, caps.name, caps.driver, caps.compute_units, caps.memory_total);
}

void Report::set_device(const std::string& backend, const std::string& name, const std::string& driver,
                        unsigned compute_units, std::size_t memory_bytes) {
  device_ = {{"backend", backend}, {"name", name}, {"driver", driver}, {"compute_units", compute_units},
             {"memory_bytes", memory_bytes}};
}

Series& Report::series(const std::string& case_name, const std::string& side, const std::string& metric,
                       const std::string& unit) {
  for (auto& s : series_) {
    if (s.case_name != case_name || s.side != side || s.metric != metric) continue;
    if (s.unit != unit)
      throw UsageError("[Report::add] " + case_name + " / " + side + " / " + metric + ": unit '" + unit +
                       "' after '" + s.unit + "'");
    return s;
  }
  return series_.emplace_back(Series{case_name, side, metric, unit, {}});
}

void Report::add(const std::string& case_name, const std::string& side, const std::string& metric,
                 const std::string& unit, double value) {
  add(case_name, side, metric, unit, std::span<const double>(&value, 1));
}

void Report::add(const std::string& case_name, const std::string& side, const std::string& metric,
                 const std::string& unit, std::span<const double> values) {
  Series& s = series(case_name, side, metric, unit);
  for (double v : values) {
    if (std::isfinite(v)) s.values.push_back(v);
    else ++skipped_;
  }
}

const Series* Report::find(const std::string& case_name, const std::string& side, const std::string& metric) const {
  for (const auto& s : series_)
    if (s.case_name == case_name && s.side == side && s.metric == metric) return &s;
  return nullptr;
}

ojson Report::to_json() const {
  const BuildInfo b = build_info();
  ojson samples = ojson::array(), summary = ojson::array();
  for (const auto& s : series_) {
    ojson row = series_key(s);
    row["values"] = s.values;
    samples.push_back(std::move(row));
    const Summary m = summarize(s.values);
    ojson sum = series_key(s);
    sum.update({{"n", m.n}, {"median", number_or_null(m.median)}, {"min", number_or_null(m.min)},
                {"max", number_or_null(m.max)}, {"p99", number_or_null(m.p99)}});
    summary.push_back(std::move(sum));
  }
  ojson goals = ojson::array();
  for (const auto& g : goals_) {
    ojson row{{"kpi", g.kpi}, {"goal", g.goal}, {"case", g.case_name}, {"metric", g.metric}, {"value", g.value},
              {"met", g.met}};
    if (!g.peer.empty()) row.update({{"peer", g.peer}, {"peer_value", number_or_null(g.peer_value)}});
    for (const auto& [key, text] : {std::pair<const char*, const std::string&>{"peer_metric", g.peer_metric},
                                    {"statistic", g.statistic}, {"detail", g.detail}, {"caveat", g.caveat}})
      if (!text.empty()) row[key] = text;
    goals.push_back(std::move(row));
  }
  ojson notes = ojson::array();
  for (const auto& n : notes_) notes.push_back(n);
  if (skipped_ > 0)
    notes.push_back(std::to_string(skipped_) + " non-finite values (NaN or infinite) were not recorded");
  if (!b.dirty) notes.push_back("built without git: the commit is unknown");
  return {{"schema", kSchema},
          {"suite", suite_},
          {"commit", b.commit},
          {"dirty", b.dirty ? ojson(*b.dirty) : ojson(nullptr)},
          {"date", utc_now()},
          {"command", command_ ? *command_ : process_command()},
          {"machine", machine()},
          {"device", device_},
          {"config", config_},
          {"samples", std::move(samples)},
          {"summary", std::move(summary)},
          {"goals", std::move(goals)},
          {"notes", std::move(notes)}};
}

void Report::write(const std::string& path) const {
  const std::string text = document_text(to_json());
  std::ofstream f(path, std::ios::trunc);
  f << text;
  f.close();
  if (!f) throw Error("cannot write '" + path + "'");
}

// ISO-8601 UTC, seconds: the schema's "date".
std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

}  // namespace ut::bench
