#include "storage/cipher.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <climits>
#include <memory>

#include "storage/file.hpp"

namespace weaseldb::storage {

namespace {

struct ContextDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using Context = std::unique_ptr<EVP_CIPHER_CTX, ContextDeleter>;

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* bytes(std::string* s, size_t offset) {
  return reinterpret_cast<unsigned char*>(s->data()) + offset;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<std::unique_ptr<Cipher>> Cipher::from_key_file(const std::string& path) {
  auto file = open_random_access_file(path);
  if (!file.ok()) return file.status();
  uint64_t size = file.value()->size();
  if (size > 128) return Status::invalid_argument(path + ": not a key file (too large)");
  std::string scratch(size, '\0');
  auto read = file.value()->read(0, size, scratch.data());
  if (!read.ok()) return read.status();
  std::string_view text = read.value();
  std::array<uint8_t, kKeyBytes> key{};
  if (text.size() == kKeyBytes) {
    for (size_t i = 0; i < kKeyBytes; ++i) key[i] = static_cast<uint8_t>(text[i]);
  } else {
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    if (text.size() != 2 * kKeyBytes) {
      return Status::invalid_argument(path + ": a key file holds 32 raw bytes or 64 hex digits");
    }
    for (size_t i = 0; i < kKeyBytes; ++i) {
      int hi = hex_value(text[2 * i]);
      int lo = hex_value(text[2 * i + 1]);
      if (hi < 0 || lo < 0) return Status::invalid_argument(path + ": bad hex digit in the key");
      key[i] = static_cast<uint8_t>(hi * 16 + lo);
    }
  }
  auto cipher = std::make_unique<Cipher>(key);
  OPENSSL_cleanse(key.data(), key.size());
  OPENSSL_cleanse(scratch.data(), scratch.size());
  return cipher;
}

Cipher::~Cipher() { OPENSSL_cleanse(key_.data(), key_.size()); }

Status Cipher::seal(std::string_view plaintext, std::string_view aad, std::string* out) const {
  if (plaintext.size() > INT_MAX || aad.size() > INT_MAX) {
    return Status::invalid_argument("too large to encrypt");
  }
  out->resize(kNonceBytes + plaintext.size() + kTagBytes);
  if (RAND_bytes(bytes(out, 0), kNonceBytes) != 1) {
    return Status::io_error("no randomness for an encryption nonce");
  }
  Context ctx(EVP_CIPHER_CTX_new());
  int n = 0;
  bool ok = ctx != nullptr &&
            EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(),
                               bytes(out, 0)) == 1 &&
            EVP_EncryptUpdate(ctx.get(), nullptr, &n, bytes(aad),
                              static_cast<int>(aad.size())) == 1 &&
            EVP_EncryptUpdate(ctx.get(), bytes(out, kNonceBytes), &n, bytes(plaintext),
                              static_cast<int>(plaintext.size())) == 1 &&
            EVP_EncryptFinal_ex(ctx.get(), bytes(out, kNonceBytes + plaintext.size()), &n) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                                bytes(out, kNonceBytes + plaintext.size())) == 1;
  if (!ok) return Status::io_error("AES-256-GCM encryption failed");
  return {};
}

Status Cipher::open(std::string_view sealed, std::string_view aad, std::string* out) const {
  if (sealed.size() < kOverheadBytes || sealed.size() > INT_MAX || aad.size() > INT_MAX) {
    return Status::corruption("encrypted item: bad size");
  }
  size_t text_bytes = sealed.size() - kOverheadBytes;
  out->resize(text_bytes);
  std::string tag(sealed.substr(kNonceBytes + text_bytes));
  Context ctx(EVP_CIPHER_CTX_new());
  int n = 0;
  bool ok = ctx != nullptr &&
            EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(),
                               bytes(sealed)) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &n, bytes(aad),
                              static_cast<int>(aad.size())) == 1 &&
            EVP_DecryptUpdate(ctx.get(), bytes(out, 0), &n, bytes(sealed) + kNonceBytes,
                              static_cast<int>(text_bytes)) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) == 1 &&
            EVP_DecryptFinal_ex(ctx.get(), bytes(out, text_bytes), &n) == 1;
  if (!ok) {
    out->clear();
    return Status::corruption("authentication failed (wrong key, or damaged or forged data)");
  }
  return {};
}

}  // namespace weaseldb::storage
