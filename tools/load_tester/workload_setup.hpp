#pragma once
// Chooses and prepares the workload and protocol of a run from command-line settings.
//
// Contract: validate_workload_spec() only checks values (no I/O). install_workload() fills
// options.make_workload, make_protocol and workload_name. The transactional workloads first
// ask the target for its latest version with one blocking exchange each (weasel: GET
// /v1/version; etcd: a range read, whose header carries the revision; Redis: SCRIPT LOAD of
// the compare-and-set script, then GET of its version counter), so that the run starts from a
// read version the target accepts: a stale one would turn the first answers into conflicts.
// Those exchanges happen before the load starts and are not measured. The factories it
// installs own copies of everything they need (no reference to `spec` or `options`).
// exchange_once() is the blocking helper behind them: one request on a fresh connection,
// one response delimited by `protocol`, every step bounded by `timeout_ms`.

#include <cstdint>
#include <string>
#include <string_view>

#include "load_tester/commit_workloads.hpp"
#include "load_tester/load_runner.hpp"

namespace weasel::load {

struct WorkloadSpec {
  std::string name = "static";  // static | weasel-commit | etcd-txn | redis-cas
  std::string protocol;         // http | resp; empty: the workload's own
  TxnOptions txn;
};

// Empty when `spec` names a workload and a protocol that fit together with valid options.
std::string validate_workload_spec(const WorkloadSpec& spec);

// Empty on success; otherwise why the workload could not be prepared.
std::string install_workload(const WorkloadSpec& spec, LoadOptions& options);

struct ExchangeResult {
  std::string error;  // empty on success
  int status_code = 0;
  std::string raw;   // the whole response
  std::string body;  // its body (HTTP) or payload (RESP)
};

ExchangeResult exchange_once(const std::string& host, uint16_t port, std::string_view request,
                             const Protocol& protocol, uint32_t timeout_ms);

}  // namespace weasel::load
