#include "config/cli.hpp"

#include <algorithm>
#include <optional>
#include <vector>

#include "core/assert.hpp"

#ifndef WEASEL_VERSION
#error "WEASEL_VERSION must be defined by the build (src/config/CMakeLists.txt)"
#endif

namespace weasel {
namespace {

// The raw flags, before the config file is loaded: the file must be read first so that
// the flags can override it, whatever their order on the command line.
struct Flags {
  std::optional<std::string> config_path;
  std::optional<std::string> data_dir;
  std::vector<InterfaceConfig> listen;
};

[[noreturn]] void usage_error(std::string key, const std::string& problem) {
  throw ConfigError(std::move(key), problem + " (see weaseldb --help)");
}

// Matches "--name VALUE" and "--name=VALUE"; advances `index` past what it consumed.
std::optional<std::string_view> take_value(std::string_view name, int argc, const char* const* argv,
                                           int& index) {
  std::string_view arg = argv[index];
  if (!arg.starts_with(name)) return std::nullopt;
  std::string_view rest = arg.substr(name.size());
  if (rest.starts_with('=')) return rest.substr(1);
  if (!rest.empty()) return std::nullopt;  // e.g. "--configx"
  if (index + 1 >= argc) usage_error("", "option " + std::string(name) + " needs a value");
  ++index;
  return std::string_view(argv[index]);
}

void set_once(std::optional<std::string>& slot, std::string_view flag, std::string_view value) {
  if (slot) usage_error("", "option " + std::string(flag) + " given twice");
  slot = std::string(value);
}

void add_listen(std::vector<InterfaceConfig>& listen, std::string_view text) {
  InterfaceConfig interface = parse_listen_address(text);
  if (std::find(listen.begin(), listen.end(), interface) != listen.end()) {
    usage_error("server.interfaces", "--listen '" + std::string(text) + "' given twice");
  }
  if (listen.size() == kInterfacesMax) {
    usage_error("server.interfaces",
                "more than " + std::to_string(kInterfacesMax) + " --listen addresses");
  }
  listen.push_back(std::move(interface));
}

}  // namespace

std::string_view weasel_version() {
  return WEASEL_VERSION;
}

std::string usage_text() {
  return "Usage:\n"
         "  weaseldb [--config FILE] [--data DIR] [--listen ADDRESS]...\n"
         "  weaseldb replica --upstream URL [--listen ADDRESS] [--data DIR]\n"
         "  weaseldb --help | --version\n"
         "\n"
         "Serves the WeaselDB HTTP API (leader and embedded reader).\n"
         "\n"
         "Options:\n"
         "  --config FILE      TOML configuration file (see docs/config.md)\n"
         "  --data DIR         data directory; overrides data_dir (default ./data)\n"
         "  --listen ADDRESS   listen on ADDRESS; repeatable; replaces server.interfaces\n"
         "                     (default 127.0.0.1:8080). ADDRESS is HOST:PORT,\n"
         "                     [IPV6]:PORT or unix:PATH\n"
         "  -h, --help         print this help and exit\n"
         "  --version          print the version and exit\n"
         "\n"
         "Flags override the config file. An invalid configuration exits with status 2.\n";
}

CliResult parse_command_line(int argc, const char* const* argv) {
  WEASEL_ASSERT(argc >= 1);
  CliResult result;
  if (argc >= 2 && std::string_view(argv[1]) == "replica") {
    throw ConfigError("", "replica mode is not implemented yet");
  }
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      result.action = CliResult::Action::kHelp;
      result.text = usage_text();
      return result;
    }
    if (arg == "--version") {
      result.action = CliResult::Action::kVersion;
      result.text = "weaseldb " + std::string(weasel_version()) + "\n";
      return result;
    }
    if (auto value = take_value("--config", argc, argv, i)) {
      set_once(flags.config_path, "--config", *value);
    } else if (auto value = take_value("--data", argc, argv, i)) {
      set_once(flags.data_dir, "--data", *value);
    } else if (auto value = take_value("--listen", argc, argv, i)) {
      add_listen(flags.listen, *value);
    } else if (arg.starts_with('-')) {
      usage_error("", "unknown option '" + std::string(arg) + "'");
    } else {
      usage_error("", "unexpected argument '" + std::string(arg) + "'");
    }
  }
  result.config = flags.config_path ? load_config_file(*flags.config_path) : Config{};
  if (flags.data_dir) {
    std::string problem = check_data_dir(*flags.data_dir);
    if (!problem.empty()) usage_error("data_dir", "--data '" + *flags.data_dir + "' " + problem);
    result.config.data_dir = *flags.data_dir;
  }
  if (!flags.listen.empty()) result.config.server.interfaces = std::move(flags.listen);
  return result;
}

}  // namespace weasel
