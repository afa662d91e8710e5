#pragma once
// Helpers shared by the storage tests: a scratch directory, deterministic random bytes and
// internal keys.

#include "tests/temp_dir.hpp"
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>

#include "storage/internal_key.hpp"

namespace weaseldb::storage::test {

using weasel::test::TempDir;


// prefix + decimal i. Built with snprintf: `"k" + std::to_string(i)` trips a g++ 12
// -Wrestrict false positive under -O3.
inline std::string numbered(const char* prefix, uint64_t i) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s%llu", prefix, static_cast<unsigned long long>(i));
  return buf;
}

inline std::string random_bytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// Compressible bytes: short runs from a small alphabet.
inline std::string compressible_bytes(std::mt19937_64& rng, size_t n) {
  std::string s;
  s.reserve(n);
  while (s.size() < n) s.append(1 + rng() % 8, static_cast<char>('a' + rng() % 4));
  s.resize(n);
  return s;
}

// The internal key (user key, sequence, type), encoded as tables and memtables hold it.
inline std::string ikey(std::string_view user_key, SequenceNumber sequence,
                        ValueType type = ValueType::kValue) {
  std::string out;
  append_internal_key(&out, user_key, sequence, type);
  return out;
}

}  // namespace weaseldb::storage::test
