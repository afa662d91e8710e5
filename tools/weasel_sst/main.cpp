// weasel_sst: prints an SSTable or a manifest of the storage engine. See sst_dump.hpp for the
// command line and run_weasel_sst() for the program.

#include <cstdio>
#include <string_view>
#include <vector>

#include "weasel_sst/sst_dump.hpp"

int main(int argc, char** argv) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  return weaseldb::tools::run_weasel_sst(args, stdout, stderr);
}
