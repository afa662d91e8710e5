#include "storage/manifest.hpp"

#include <xxhash.h>

#include <cstdio>

#include "storage/cipher.hpp"
#include "storage/coding.hpp"
#include "storage/file.hpp"

namespace weaseldb::storage {

namespace {

constexpr uint64_t kManifestMagic = 0x464e414d4c534557ULL;  // "WESLMANF" little-endian
constexpr uint32_t kManifestVersion = 1;
constexpr uint32_t kManifestSealedVersion = 2;
constexpr size_t kHeaderBytes = 16;
constexpr size_t kMaxManifestBytes = size_t{1} << 30;

std::string numbered(uint64_t number, const char* suffix) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%06llu.%s", static_cast<unsigned long long>(number), suffix);
  return buf;
}

}  // namespace

std::string manifest_path(const std::string& dir) { return dir + "/MANIFEST"; }
std::string wal_path(const std::string& dir, uint64_t number) {
  return dir + "/" + numbered(number, "wal");
}
std::string table_name(uint64_t number) { return numbered(number, "sst"); }
std::string table_path(const std::string& dir, uint64_t number) {
  return dir + "/" + table_name(number);
}

FileKind parse_file_name(const std::string& name, uint64_t* number) {
  size_t dot = name.find('.');
  if (dot == 0 || dot == std::string::npos || dot > 20) return FileKind::kOther;
  uint64_t n = 0;
  for (size_t i = 0; i < dot; ++i) {
    if (name[i] < '0' || name[i] > '9') return FileKind::kOther;
    n = n * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  std::string suffix = name.substr(dot + 1);
  *number = n;
  if (suffix == "wal") return FileKind::kWal;
  if (suffix == "sst") return FileKind::kTable;
  return FileKind::kOther;
}

Result<std::string> encode_manifest(const ManifestState& state, const Cipher* cipher) {
  std::string body;
  append_varint(&body, state.next_file_number);
  append_varint(&body, state.last_sequence);
  append_varint(&body, state.log_number);
  append_varint(&body, state.compaction_floor);
  append_varint(&body, state.tables.size());
  for (const TableMeta& t : state.tables) {
    append_varint(&body, t.level);
    append_varint(&body, t.number);
    append_varint(&body, t.bytes);
    append_length_prefixed(&body, t.smallest);
    append_length_prefixed(&body, t.largest);
  }
  if (cipher != nullptr) {
    std::string sealed;
    Status s = cipher->seal(body, "MANIFEST", &sealed);
    if (!s.ok()) return s;
    body.swap(sealed);
  }
  std::string out;
  append_fixed64(&out, kManifestMagic);
  append_fixed32(&out, cipher != nullptr ? kManifestSealedVersion : kManifestVersion);
  append_fixed32(&out, static_cast<uint32_t>(body.size()));
  out += body;
  append_fixed64(&out, XXH3_64bits(body.data(), body.size()));
  return out;
}

Result<ManifestState> decode_manifest(std::string_view bytes, const Cipher* cipher) {
  if (bytes.size() < kHeaderBytes + 8 || decode_fixed64(bytes.data()) != kManifestMagic) {
    return Status::corruption("MANIFEST: not a manifest");
  }
  uint32_t version = decode_fixed32(bytes.data() + 8);
  if (version != kManifestVersion && version != kManifestSealedVersion) {
    return Status::corruption("MANIFEST: unsupported version");
  }
  uint32_t body_bytes = decode_fixed32(bytes.data() + 12);
  if (bytes.size() != kHeaderBytes + body_bytes + 8) {
    return Status::corruption("MANIFEST: length mismatch (truncated?)");
  }
  std::string_view body = bytes.substr(kHeaderBytes, body_bytes);
  if (decode_fixed64(bytes.data() + kHeaderBytes + body_bytes) !=
      XXH3_64bits(body.data(), body.size())) {
    return Status::corruption("MANIFEST: checksum mismatch");
  }
  std::string opened;
  if (version == kManifestSealedVersion) {
    if (cipher == nullptr) {
      return Status::invalid_argument("MANIFEST: encrypted, and no key is configured");
    }
    Status s = cipher->open(body, "MANIFEST", &opened);
    if (!s.ok()) return Status::corruption("MANIFEST: " + s.message());
    body = opened;
  }
  ManifestState state;
  uint64_t count = 0;
  bool ok = get_varint64(&body, &state.next_file_number) &&
            get_varint64(&body, &state.last_sequence) && get_varint64(&body, &state.log_number) &&
            get_varint64(&body, &state.compaction_floor) && get_varint64(&body, &count) && count <= body.size();
  for (uint64_t i = 0; ok && i < count; ++i) {
    TableMeta t;
    uint32_t level = 0;
    std::string_view smallest, largest;
    ok = get_varint32(&body, &level) && get_varint64(&body, &t.number) &&
         get_varint64(&body, &t.bytes) && get_length_prefixed(&body, &smallest) &&
         get_length_prefixed(&body, &largest);
    t.level = level;
    t.smallest.assign(smallest);
    t.largest.assign(largest);
    state.tables.push_back(std::move(t));
  }
  if (!ok || !body.empty() || state.last_sequence > kMaxSequenceNumber) {
    return Status::corruption("MANIFEST: malformed body");
  }
  return state;
}

Status write_manifest(FileSystem& fs, const std::string& dir, const ManifestState& state,
                      const Cipher* cipher) {
  Result<std::string> encoded = encode_manifest(state, cipher);
  if (!encoded.ok()) return encoded.status();
  std::string tmp = manifest_path(dir) + ".tmp";
  auto file = fs.new_writable_file(tmp);
  if (!file.ok()) return file.status();
  Status s = file.value()->append(encoded.value());
  if (s.ok()) s = file.value()->sync();
  Status closed = file.value()->close();
  if (s.ok()) s = closed;
  if (s.ok()) s = fs.rename_file(tmp, manifest_path(dir));
  if (s.ok()) s = fs.sync_dir(dir);
  return s;
}

Result<ManifestState> read_manifest(FileSystem& fs, const std::string& dir, const Cipher* cipher) {
  std::string path = manifest_path(dir);
  Result<bool> exists = fs.file_exists(path);
  if (!exists.ok()) return exists.status();
  if (!exists.value()) return Status::not_found(path + " does not exist");
  auto file = fs.new_random_access_file(path);
  if (!file.ok()) return file.status();
  uint64_t size = file.value()->size();
  if (size > kMaxManifestBytes) return Status::corruption(path + ": implausibly large");
  std::string scratch(size, '\0');
  auto bytes = file.value()->read(0, size, scratch.data());
  if (!bytes.ok()) return bytes.status();
  Result<ManifestState> state = decode_manifest(bytes.value(), cipher);
  if (!state.ok()) {
    if (state.status().code() != StatusCode::kCorruption) return state.status();
    return Status::corruption(dir + "/" + state.status().message());
  }
  return state;
}

}  // namespace weaseldb::storage
