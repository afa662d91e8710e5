#pragma once
// The weaseldb command line (SPEC section 4):
//   weaseldb [--config FILE] [--data DIR] [--listen ADDRESS]...
//   weaseldb replica --upstream URL [--listen ADDRESS] [--data DIR]   (not implemented yet)
//   weaseldb --help | --version
// Flags accept both "--flag VALUE" and "--flag=VALUE". Flags override the config file:
// --data replaces data_dir, and the --listen flags (repeatable; see interface.hpp for the
// syntax) together REPLACE server.interfaces.
//
// Everything that keeps the server from starting (bad flag, unreadable or invalid config
// file) is a ConfigError; main() prints what() and exits with status 2.

#include <string>
#include <string_view>

#include "config/config.hpp"

namespace weasel {

struct CliResult {
  enum class Action { kServe, kHelp, kVersion };
  Action action = Action::kServe;
  // The effective configuration (meaningful for kServe).
  Config config;
  // What to print to stdout for kHelp and kVersion.
  std::string text;
};

// Parses argv (argv[0] is the program name), loads the config file if one is given, and
// applies the overrides. Throws ConfigError.
CliResult parse_command_line(int argc, const char* const* argv);

std::string usage_text();

// The project version from CMake, e.g. "0.1.0".
std::string_view weasel_version();

}  // namespace weasel
