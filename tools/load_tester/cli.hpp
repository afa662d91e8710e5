#pragma once
// Command line of the load_tester program.
//
// Contract: parse_cli() turns arguments (without the program name) into LoadOptions and a
// WorkloadSpec, or names the first bad argument in `error`. It reads --body-file itself; it
// checks values with validate_options() and validate_workload_spec(), so a parse without
// error can run once install_workload(workload, options) has prepared the workload.

#include <span>
#include <string>
#include <string_view>

#include "load_tester/load_runner.hpp"
#include "load_tester/workload_setup.hpp"

namespace weasel::load {

struct CliResult {
  LoadOptions options;
  WorkloadSpec workload;
  bool json = false;
  bool help = false;
  std::string error;  // empty on success
};

CliResult parse_cli(std::span<const std::string_view> args);
std::string_view cli_usage();

}  // namespace weasel::load
