#pragma once
// Cipher: AES-256-GCM for encryption at rest (Options::encryption_key_file): SSTable blocks,
// WAL records and the manifest are sealed with it when a key is configured.
//
// Contract
// - seal() writes nonce (12 random bytes) || ciphertext || tag (16 bytes); `aad` is
//   authenticated, not stored (callers bind a sealed item to where it lives: a table's file
//   number and block offset, say, so blocks cannot be swapped around).
// - Nonces are random rather than derived from file numbers and offsets (DESIGN suggested
//   derived ones): a crash can lose a file's directory entry and let its number be reused,
//   and a reused (key, nonce) pair breaks GCM. 96 random bits make a repeat negligible.
// - open() returns corruption when authentication fails: a wrong key or damaged or forged
//   bytes, which cannot be told apart.
// - The key file holds the 32-byte key raw, or as 64 hex digits (a final newline allowed).
// - Thread-safe (no shared mutable state).
//
// Ownership: the Cipher owns a copy of the key (wiped on destruction).

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "weaseldb/status.hpp"

namespace weaseldb::storage {

class Cipher {
 public:
  static constexpr size_t kKeyBytes = 32;
  static constexpr size_t kNonceBytes = 12;
  static constexpr size_t kTagBytes = 16;
  static constexpr size_t kOverheadBytes = kNonceBytes + kTagBytes;

  static Result<std::unique_ptr<Cipher>> from_key_file(const std::string& path);
  explicit Cipher(const std::array<uint8_t, kKeyBytes>& key) : key_(key) {}
  Cipher(const Cipher&) = delete;
  Cipher& operator=(const Cipher&) = delete;
  ~Cipher();

  Status seal(std::string_view plaintext, std::string_view aad, std::string* out) const;
  Status open(std::string_view sealed, std::string_view aad, std::string* out) const;

 private:
  std::array<uint8_t, kKeyBytes> key_;
};

}  // namespace weaseldb::storage
