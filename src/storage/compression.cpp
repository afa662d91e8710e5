#include "storage/compression.hpp"

#include <lz4.h>
#include <snappy.h>
#include <zstd.h>

#include <cstring>

#include "core/assert.hpp"
#include "storage/coding.hpp"

namespace weaseldb::storage {

bool is_known_compression(uint8_t type) { return type <= static_cast<uint8_t>(Compression::kSnappy); }

const char* compression_name(Compression type) {
  switch (type) {
    case Compression::kNone:
      return "none";
    case Compression::kLz4:
      return "lz4";
    case Compression::kZstd:
      return "zstd";
    case Compression::kSnappy:
      return "snappy";
  }
  return "unknown";
}

namespace {

bool worth_it(std::string_view input, size_t output_bytes) {
  return output_bytes < input.size() - input.size() / 8;
}

bool compress_lz4(int level, std::string_view input, std::string* output) {
  if (input.size() > static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) return false;
  output->clear();
  append_varint(output, input.size());
  size_t header = output->size();
  int bound = LZ4_compressBound(static_cast<int>(input.size()));
  output->resize(header + static_cast<size_t>(bound));
  int n = LZ4_compress_fast(input.data(), output->data() + header, static_cast<int>(input.size()),
                            bound, level > 0 ? level : 1);
  if (n <= 0) return false;
  output->resize(header + static_cast<size_t>(n));
  return true;
}

bool compress_zstd(int level, std::string_view input, std::string* output) {
  output->clear();
  append_varint(output, input.size());
  size_t header = output->size();
  size_t bound = ZSTD_compressBound(input.size());
  output->resize(header + bound);
  size_t n = ZSTD_compress(output->data() + header, bound, input.data(), input.size(),
                           level != 0 ? level : ZSTD_CLEVEL_DEFAULT);
  if (ZSTD_isError(n)) return false;
  output->resize(header + n);
  return true;
}

// The uncompressed size that lz4 and zstd payloads carry up front; *input is left at the
// compressed bytes.
Result<size_t> sized_prefix(std::string_view* input) {
  uint32_t size = 0;
  if (!get_varint32(input, &size) || size > kMaxUncompressedBytes) {
    return Status::corruption("compressed block: bad uncompressed size");
  }
  return size_t{size};
}

}  // namespace

bool compress(Compression type, int level, std::string_view input, std::string* output) {
  bool ok = false;
  switch (type) {
    case Compression::kNone:
      return false;
    case Compression::kLz4:
      ok = compress_lz4(level, input, output);
      break;
    case Compression::kZstd:
      ok = compress_zstd(level, input, output);
      break;
    case Compression::kSnappy:
      output->clear();
      snappy::Compress(input.data(), input.size(), output);
      ok = true;
      break;
  }
  return ok && worth_it(input, output->size());
}

std::string_view compress_into(Compression type, int level, std::string_view input,
                               std::string* buffer) {
  if (type != Compression::kLz4) {
    return compress(type, level, input, buffer) ? std::string_view(*buffer) : std::string_view();
  }
  if (input.size() > static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) return {};
  char header[kMaxVarint32Bytes];
  size_t header_bytes = static_cast<size_t>(put_varint(header, input.size()) - header);
  int bound = LZ4_compressBound(static_cast<int>(input.size()));
  size_t needed = header_bytes + static_cast<size_t>(bound);
  if (buffer->size() < needed) buffer->resize(needed);
  std::memcpy(buffer->data(), header, header_bytes);
  int n = LZ4_compress_fast(input.data(), buffer->data() + header_bytes,
                            static_cast<int>(input.size()), bound, level > 0 ? level : 1);
  if (n <= 0 || !worth_it(input, header_bytes + static_cast<size_t>(n))) return {};
  return {buffer->data(), header_bytes + static_cast<size_t>(n)};
}

Result<size_t> uncompressed_size(Compression type, std::string_view input) {
  switch (type) {
    case Compression::kNone:
      return input.size();
    case Compression::kLz4:
    case Compression::kZstd:
      return sized_prefix(&input);
    case Compression::kSnappy: {
      size_t size = 0;
      if (!snappy::GetUncompressedLength(input.data(), input.size(), &size) ||
          size > kMaxUncompressedBytes) {
        return Status::corruption("snappy block: bad uncompressed size");
      }
      return size;
    }
  }
  return Status::corruption("unknown compression type");
}

Status uncompress_to(Compression type, std::string_view input, char* out, size_t size) {
  switch (type) {
    case Compression::kNone:
      if (input.size() != size) return Status::corruption("block: size mismatch");
      if (size > 0) std::memcpy(out, input.data(), size);
      return {};
    case Compression::kLz4: {
      Result<size_t> announced = sized_prefix(&input);
      if (!announced.ok()) return announced.status();
      WEASEL_ASSERT(announced.value() == size);
      int n = LZ4_decompress_safe(input.data(), out, static_cast<int>(input.size()),
                                  static_cast<int>(size));
      if (n < 0 || static_cast<size_t>(n) != size) {
        return Status::corruption("lz4 block does not decompress");
      }
      return {};
    }
    case Compression::kZstd: {
      Result<size_t> announced = sized_prefix(&input);
      if (!announced.ok()) return announced.status();
      WEASEL_ASSERT(announced.value() == size);
      size_t n = ZSTD_decompress(out, size, input.data(), input.size());
      if (ZSTD_isError(n) || n != size) return Status::corruption("zstd block does not decompress");
      return {};
    }
    case Compression::kSnappy:
      if (!snappy::RawUncompress(input.data(), input.size(), out)) {
        return Status::corruption("snappy block does not decompress");
      }
      return {};
  }
  return Status::corruption("unknown compression type");
}

Status uncompress(Compression type, std::string_view input, std::string* output) {
  Result<size_t> size = uncompressed_size(type, input);
  if (!size.ok()) return size.status();
  output->resize(size.value());
  return uncompress_to(type, input, output->data(), output->size());
}

}  // namespace weaseldb::storage
