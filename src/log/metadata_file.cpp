#include "log/metadata_file.hpp"

#include <fcntl.h>
#include <xxhash.h>

#include <cstring>

#include "log/coding.hpp"

namespace weasel {
namespace {

constexpr uint32_t kMetadataMagic = 0x54454d57;  // "WMET" in file order
constexpr uint16_t kMetadataFormatVersion = 1;
constexpr size_t kFixedBytes = 4 + 2 + 2 + 8 + 4;
constexpr size_t kChecksumBytes = 8;

}  // namespace

std::string encode_metadata(const LogMetadata& metadata) {
  size_t bytes = kFixedBytes + kChecksumBytes;
  for (const auto& [key, value] : metadata.entries) {
    bytes += coding::varint_bytes(key.size()) + key.size() + coding::varint_bytes(value.size()) +
             value.size();
  }
  std::string out(bytes, '\0');
  char* p = out.data();
  p = coding::put_fixed<uint32_t>(p, kMetadataMagic);
  p = coding::put_fixed<uint16_t>(p, kMetadataFormatVersion);
  p = coding::put_fixed<uint16_t>(p, 0);
  p = coding::put_fixed<uint64_t>(p, metadata.floor_version);
  p = coding::put_fixed<uint32_t>(p, static_cast<uint32_t>(metadata.entries.size()));
  for (const auto& [key, value] : metadata.entries) {
    p = coding::put_varint(p, key.size());
    std::memcpy(p, key.data(), key.size());
    p += key.size();
    p = coding::put_varint(p, value.size());
    if (!value.empty()) std::memcpy(p, value.data(), value.size());
    p += value.size();
  }
  p = coding::put_fixed<uint64_t>(p, XXH3_64bits(out.data(), static_cast<size_t>(p - out.data())));
  WEASEL_ASSERT(p == out.data() + out.size());
  return out;
}

Status decode_metadata(std::string_view bytes, LogMetadata* metadata) {
  if (bytes.size() < kFixedBytes + kChecksumBytes) return Status::corruption("file too short");
  size_t body_bytes = bytes.size() - kChecksumBytes;
  if (coding::get_fixed<uint64_t>(bytes.data() + body_bytes) !=
      XXH3_64bits(bytes.data(), body_bytes)) {
    return Status::corruption("checksum mismatch");
  }
  const char* p = bytes.data();
  if (coding::get_fixed<uint32_t>(p) != kMetadataMagic) return Status::corruption("bad magic");
  if (coding::get_fixed<uint16_t>(p + 4) != kMetadataFormatVersion) {
    return Status::corruption("unsupported format version");
  }
  LogMetadata result;
  result.floor_version = coding::get_fixed<uint64_t>(p + 8);
  uint32_t count = coding::get_fixed<uint32_t>(p + 16);
  coding::ByteCursor cursor(bytes.substr(kFixedBytes, body_bytes - kFixedBytes));
  for (uint32_t i = 0; i < count; ++i) {
    std::string_view key, value;
    if (!cursor.get_length_prefixed(&key) || !cursor.get_length_prefixed(&value)) {
      return Status::corruption("entry overruns the file");
    }
    if (!result.entries.empty() && key <= std::string_view(result.entries.rbegin()->first)) {
      return Status::corruption("keys out of order");
    }
    result.entries.emplace_hint(result.entries.end(), key, value);
  }
  if (!cursor.empty()) return Status::corruption("bytes after the last entry");
  *metadata = std::move(result);
  return {};
}

Result<LogMetadata> load_metadata_file(FileOps& ops, const std::string& dir) {
  std::string temp = dir + "/" + kMetadataTempFileName;
  if (int err = ops.unlink(temp); err != 0 && err != ENOENT) {
    return status_from_errno(err, "unlink " + temp);
  }
  std::string path = dir + "/" + kMetadataFileName;
  Result<std::string> contents = read_whole_file(ops, path);
  if (!contents.ok()) {
    if (contents.status().code() == StatusCode::kNotFound) return LogMetadata{};
    return contents.status();
  }
  LogMetadata metadata;
  Status s = decode_metadata(contents.value(), &metadata);
  if (!s.ok()) return Status::corruption("metadata file " + path + ": " + s.message());
  return metadata;
}

Status store_metadata_file(FileOps& ops, const std::string& dir, int dir_fd,
                           const LogMetadata& metadata, bool* uncertain) {
  *uncertain = false;
  std::string temp = dir + "/" + kMetadataTempFileName;
  std::string path = dir + "/" + kMetadataFileName;
  std::string bytes = encode_metadata(metadata);
  int fd;
  if (int err = ops.open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0644, &fd)) {
    return status_from_errno(err, "create " + temp);
  }
  int err = ops.write_at(fd, bytes, 0);
  const char* what = "write ";
  if (err == 0) {
    err = ops.sync(fd);
    what = "fsync ";
  }
  int close_err = ops.close(fd);
  if (err == 0 && close_err != 0) {
    err = close_err;
    what = "close ";
  }
  if (err == 0) {
    err = ops.rename(temp, path);
    what = "rename ";
  }
  if (err != 0) {
    (void)ops.unlink(temp);  // best effort: load_metadata_file removes it anyway
    return status_from_errno(err, what + temp);
  }
  Status s = sync_directory(ops, dir_fd, dir);
  if (!s.ok()) *uncertain = true;
  return s;
}

}  // namespace weasel
