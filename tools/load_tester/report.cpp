#include "load_tester/report.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstdio>

namespace weasel::load {
namespace {

void appendf(std::string& out, const char* format, ...) __attribute__((format(printf, 2, 3)));

void appendf(std::string& out, const char* format, ...) {
  char line[512];
  va_list args;
  va_start(args, format);
  const int n = std::vsnprintf(line, sizeof(line), format, args);
  va_end(args);
  if (n > 0) out.append(line, std::min(static_cast<size_t>(n), sizeof(line) - 1));
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto byte = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (byte < 0x20) {
      appendf(out, "\\u%04x", byte);
    } else {
      out += ch;
    }
  }
  out += '"';
  return out;
}

double us(uint64_t ns) {
  return static_cast<double>(ns) / 1e3;
}

std::string target_of(const LoadOptions& o) {
  return o.host + ":" + std::to_string(o.port);
}

std::string what_is_sent(const LoadOptions& o) {
  return o.workload_name.empty() ? o.method + " " + o.path : "workload " + o.workload_name;
}

unsigned long long outcome_count(const LoadReport& r, Outcome o) {
  return static_cast<unsigned long long>(r.outcome(o));
}

}  // namespace

std::string format_report_text(const LoadOptions& o, const LoadReport& r) {
  std::string out;
  appendf(out, "target %s  %s  connections %u  threads %u  pipeline %u\n", target_of(o).c_str(),
          what_is_sent(o).c_str(), o.connections, o.threads, o.pipeline_depth);
  if (!r.setup_error.empty()) {
    appendf(out, "setup error: %s\n", r.setup_error.c_str());
    return out;
  }
  appendf(out, "requests     %llu in %.3f s  (%.1f req/s)\n",
          static_cast<unsigned long long>(r.requests), r.elapsed_s, r.requests_per_s());
  appendf(out, "2xx          %llu\n", static_cast<unsigned long long>(r.ok));
  const LatencyHistogram& h = r.latency_ns;
  appendf(out, "latency us   p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n",
          us(h.value_at_percentile(50)), us(h.value_at_percentile(90)),
          us(h.value_at_percentile(99)), us(h.value_at_percentile(99.9)), us(h.max()),
          h.mean() / 1e3);
  if (r.outcome(Outcome::kSuccess) + r.outcome(Outcome::kConflict) + r.outcome(Outcome::kFailure) >
      0) {
    appendf(out, "outcomes     success %llu (%.1f/s)  conflict %llu  failure %llu\n",
            outcome_count(r, Outcome::kSuccess), r.successes_per_s(),
            outcome_count(r, Outcome::kConflict), outcome_count(r, Outcome::kFailure));
  }
  for (size_t code = 0; code < kStatusCodeSlots; ++code) {
    const bool success = code >= 200 && code < 300;
    if (r.status_counts[code] == 0 || success) continue;
    appendf(out, "status %-5s %llu\n", code == 0 ? "other" : std::to_string(code).c_str(),
            static_cast<unsigned long long>(r.status_counts[code]));
  }
  const ErrorCounts& e = r.errors;
  appendf(out,
          "errors       connect %llu  reset %llu  closed %llu  timeout %llu  malformed %llu  "
          "read %llu  write %llu\n",
          static_cast<unsigned long long>(e.connect), static_cast<unsigned long long>(e.reset),
          static_cast<unsigned long long>(e.closed), static_cast<unsigned long long>(e.timeout),
          static_cast<unsigned long long>(e.malformed), static_cast<unsigned long long>(e.read),
          static_cast<unsigned long long>(e.write));
  appendf(out, "lost         %llu  reconnects %llu\n",
          static_cast<unsigned long long>(r.lost_requests),
          static_cast<unsigned long long>(r.reconnects));
  return out;
}

std::string format_report_json(const LoadOptions& o, const LoadReport& r) {
  std::string out = "{\"target\":" + json_string(target_of(o));
  out += ",\"method\":" + json_string(o.method) + ",\"path\":" + json_string(o.path);
  if (!o.workload_name.empty()) out += ",\"workload\":" + json_string(o.workload_name);
  appendf(out, ",\"connections\":%u,\"threads\":%u,\"pipeline\":%u", o.connections, o.threads,
          o.pipeline_depth);
  if (!r.setup_error.empty()) out += ",\"setup_error\":" + json_string(r.setup_error);
  appendf(out, ",\"elapsed_s\":%.6f,\"requests\":%llu,\"ok\":%llu,\"requests_per_s\":%.3f",
          r.elapsed_s, static_cast<unsigned long long>(r.requests),
          static_cast<unsigned long long>(r.ok), r.requests_per_s());
  const LatencyHistogram& h = r.latency_ns;
  appendf(out,
          ",\"latency_us\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,"
          "\"mean\":%.3f}",
          us(h.value_at_percentile(50)), us(h.value_at_percentile(90)),
          us(h.value_at_percentile(99)), us(h.value_at_percentile(99.9)), us(h.max()),
          h.mean() / 1e3);
  out += ",\"status\":{";
  bool first = true;
  for (size_t code = 0; code < kStatusCodeSlots; ++code) {
    if (r.status_counts[code] == 0 || (code >= 200 && code < 300)) continue;
    appendf(out, "%s\"%s\":%llu", first ? "" : ",",
            code == 0 ? "other" : std::to_string(code).c_str(),
            static_cast<unsigned long long>(r.status_counts[code]));
    first = false;
  }
  const ErrorCounts& e = r.errors;
  appendf(out,
          "},\"errors\":{\"connect\":%llu,\"reset\":%llu,\"closed\":%llu,\"timeout\":%llu,"
          "\"malformed\":%llu,\"read\":%llu,\"write\":%llu}",
          static_cast<unsigned long long>(e.connect), static_cast<unsigned long long>(e.reset),
          static_cast<unsigned long long>(e.closed), static_cast<unsigned long long>(e.timeout),
          static_cast<unsigned long long>(e.malformed), static_cast<unsigned long long>(e.read),
          static_cast<unsigned long long>(e.write));
  appendf(out, ",\"outcomes\":{\"success\":%llu,\"conflict\":%llu,\"failure\":%llu}",
          outcome_count(r, Outcome::kSuccess), outcome_count(r, Outcome::kConflict),
          outcome_count(r, Outcome::kFailure));
  appendf(out, ",\"success_per_s\":%.3f", r.successes_per_s());
  appendf(out, ",\"lost_requests\":%llu,\"reconnects\":%llu}",
          static_cast<unsigned long long>(r.lost_requests),
          static_cast<unsigned long long>(r.reconnects));
  return out;
}

}  // namespace weasel::load
