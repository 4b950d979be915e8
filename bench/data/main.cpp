// ut_data_bench: the same benchmark as `ut bench data`, as a small program with few shared libraries
// (DuckDB and the C++ runtime), so it can be copied to a GPU machine and run there.
//   ut_data_bench [--rows N] [--reps R] [--quick] [--backend cpu|cuda] [--json FILE]
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "bench/data/data_bench.h"

int main(int argc, char** argv) {
  ut::bench::DataBenchOptions o;
  o.backend = "cpu";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "ut_data_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--rows") o.rows = std::stoull(next());
    else if (a == "--reps") o.reps = std::stoi(next());
    else if (a == "--quick") o.quick = true;
    else if (a == "--backend") o.backend = next();
    else if (a == "--json") o.json_path = next();
    else {
      std::fprintf(stderr, "usage: ut_data_bench [--rows N] [--reps R] [--quick] [--backend cpu|cuda] [--json FILE]\n");
      return 2;
    }
  }
  try {
    return ut::bench::run_data_bench(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ut_data_bench: error: %s\n", e.what());
    return 1;
  }
}
