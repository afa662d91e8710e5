// load_tester: a load generator for HTTP/1.1 and RESP servers. See cli.cpp for the options,
// load_runner.hpp for what a run does and workload_setup.hpp for the workloads.

#include <cstdio>
#include <string_view>
#include <vector>

#include "load_tester/cli.hpp"
#include "load_tester/report.hpp"

int main(int argc, char** argv) {
  using namespace weasel::load;
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  const CliResult cli = parse_cli(args);
  if (cli.help) {
    std::fputs(cli_usage().data(), stdout);
    return 0;
  }
  if (!cli.error.empty()) {
    std::fprintf(stderr, "load_tester: %s\n%s", cli.error.c_str(), cli_usage().data());
    return 2;
  }
  LoadOptions options = cli.options;
  if (const std::string error = install_workload(cli.workload, options); !error.empty()) {
    std::fprintf(stderr, "load_tester: %s\n", error.c_str());
    return 2;
  }
  const LoadReport report = run_load(options);
  const std::string text =
      cli.json ? format_report_json(options, report) + "\n" : format_report_text(options, report);
  std::fputs(text.c_str(), stdout);
  if (!report.setup_error.empty()) {
    std::fprintf(stderr, "load_tester: %s\n", report.setup_error.c_str());
    return 2;
  }
  return report.ok > 0 ? 0 : 1;
}
