#include "storage/compression.hpp"

#include <lz4.h>
#include <snappy.h>
#include <zstd.h>

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

bool worth_it(std::string_view input, const std::string& output) {
  return output.size() < input.size() - input.size() / 8;
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

// The uncompressed size that lz4 and zstd payloads carry up front.
Status sized_prefix(std::string_view* input, std::string* output) {
  uint32_t size = 0;
  if (!get_varint32(input, &size) || size > kMaxUncompressedBytes) {
    return Status::corruption("compressed block: bad uncompressed size");
  }
  output->resize(size);
  return {};
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
  return ok && worth_it(input, *output);
}

Status uncompress(Compression type, std::string_view input, std::string* output) {
  switch (type) {
    case Compression::kNone:
      output->assign(input);
      return {};
    case Compression::kLz4: {
      Status s = sized_prefix(&input, output);
      if (!s.ok()) return s;
      int n = LZ4_decompress_safe(input.data(), output->data(), static_cast<int>(input.size()),
                                  static_cast<int>(output->size()));
      if (n < 0 || static_cast<size_t>(n) != output->size()) {
        return Status::corruption("lz4 block does not decompress");
      }
      return {};
    }
    case Compression::kZstd: {
      Status s = sized_prefix(&input, output);
      if (!s.ok()) return s;
      size_t n = ZSTD_decompress(output->data(), output->size(), input.data(), input.size());
      if (ZSTD_isError(n) || n != output->size()) {
        return Status::corruption("zstd block does not decompress");
      }
      return {};
    }
    case Compression::kSnappy: {
      size_t size = 0;
      if (!snappy::GetUncompressedLength(input.data(), input.size(), &size) ||
          size > kMaxUncompressedBytes) {
        return Status::corruption("snappy block: bad uncompressed size");
      }
      output->resize(size);
      if (!snappy::RawUncompress(input.data(), input.size(), output->data())) {
        return Status::corruption("snappy block does not decompress");
      }
      return {};
    }
  }
  return Status::corruption("unknown compression type");
}

}  // namespace weaseldb::storage
