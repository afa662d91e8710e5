#pragma once
// Formatting of a LoadReport: a human summary and one JSON line for scripts.
//
// Contract: pure functions; they allocate only the returned string. Latencies are reported
// in microseconds. The JSON line's keys are a stable interface (bench/ scripts parse them):
// target, method, path, connections, threads, pipeline, elapsed_s, requests, ok,
// requests_per_s, latency_us{p50,p90,p99,p999,max,mean}, status{code: count} (non-2xx),
// errors{connect,reset,closed,timeout,malformed,read,write}, lost_requests, reconnects,
// and setup_error when the run could not start.

#include <string>

#include "load_tester/load_runner.hpp"

namespace weasel::load {

std::string format_report_text(const LoadOptions& options, const LoadReport& report);
std::string format_report_json(const LoadOptions& options, const LoadReport& report);

}  // namespace weasel::load
