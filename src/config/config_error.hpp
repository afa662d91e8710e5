#pragma once
// ConfigError: the one exception type of the config module. Everything that makes a
// configuration unusable (unreadable file, TOML syntax error, unknown key, wrong type,
// out-of-range value, bad command-line flag) is reported as a ConfigError so that main()
// has exactly one thing to catch: it prints what() and exits with status 2 (SPEC section 4).
//
// what() is a complete, human-readable message that names the offending key (and, for
// file input, the file and line). key() is the full dotted key the error concerns, for
// example "server.io_threads" or "server.interfaces[1].port"; it is empty when the error
// concerns no single key (TOML syntax error, unreadable file, unknown command-line option).

#include <stdexcept>
#include <string>

namespace weasel {

class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string key, const std::string& message)
      : std::runtime_error(message), key_(std::move(key)) {}

  const std::string& key() const noexcept { return key_; }

 private:
  std::string key_;
};

}  // namespace weasel
