// weasel_log_dump: prints a WeaselDB log as JSON lines. See log_dump.hpp for the format and
// run_log_dump() for the command line.

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>
#include <string_view>
#include <vector>

#include "log_dump/log_dump.hpp"

int main(int argc, char** argv) {
  // Standard output carries only the JSON lines; the store's recovery warnings (a torn tail
  // truncated away) go to standard error. Its routine info lines are noise here.
  auto logger = std::make_shared<spdlog::logger>("weasel_log_dump",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_level(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  return weasel::log_dump::run_log_dump(args, stdout, stderr);
}
