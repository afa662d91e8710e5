#include "storage/table_format.hpp"

#include <cstring>
#include <utility>

// Footers hash a few dozen bytes: inline. Block checksums are in block_checksum.cpp.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "storage/coding.hpp"
#include "storage/compression.hpp"

namespace weaseldb::storage {

namespace {

// Each thread reads the stored bytes of its blocks into one buffer it keeps, so a read that
// misses the block cache allocates only the uncompressed block, and its stored bytes land in
// memory the thread touched last time (callgrind, 300,000 gets: -1.5% instructions, -9% L1
// read misses). A buffer that grew past kMaxKeptBytes (a table with huge blocks) is not
// kept, so a thread pins at most that much.
class ReadBuffer {
 public:
  static constexpr size_t kMaxKeptBytes = size_t{256} << 10;

  explicit ReadBuffer(size_t n)
      : bytes_(kept_.capacity() >= n ? std::move(kept_) : BlockBytes::allocate(n)) {
    bytes_.set_size(n);
  }
  ReadBuffer(const ReadBuffer&) = delete;
  ReadBuffer& operator=(const ReadBuffer&) = delete;
  ~ReadBuffer() {
    if (bytes_.capacity() <= kMaxKeptBytes && bytes_.capacity() > kept_.capacity()) {
      kept_ = std::move(bytes_);
    }
  }

  char* data() const { return bytes_.data(); }
  // Hands the first `size` bytes to a block. The buffer goes with them when it is not much
  // larger (the block cache charges a block its size); otherwise they are copied out.
  BlockBytes take(size_t size) {
    if (bytes_.capacity() - size <= size / 16) {
      bytes_.set_size(size);
      return std::move(bytes_);
    }
    BlockBytes bytes = BlockBytes::allocate(size);
    std::memcpy(bytes.data(), bytes_.data(), size);
    return bytes;
  }

 private:
  static thread_local BlockBytes kept_;

  BlockBytes bytes_;
};

thread_local BlockBytes ReadBuffer::kept_;

}  // namespace

void BlockHandle::encode_to(std::string* out) const {
  append_varint(out, offset);
  append_varint(out, size);
}

bool BlockHandle::decode_from(std::string_view* in) {
  return get_varint64(in, &offset) && get_varint64(in, &size);
}

std::string Footer::encode() const {
  std::string out;
  out.reserve(kEncodedBytes);
  for (const BlockHandle* h : {&index, &filter, &range_del}) {
    append_fixed64(&out, h->offset);
    append_fixed64(&out, h->size);
  }
  append_fixed32(&out, format_version);
  append_fixed32(&out, flags);
  append_fixed64(&out, XXH3_64bits(out.data(), out.size()));
  append_fixed64(&out, kTableMagic);
  return out;
}

Result<Footer> Footer::decode(std::string_view bytes) {
  if (bytes.size() != kEncodedBytes) return Status::corruption("table footer: bad size");
  if (decode_fixed64(bytes.data() + kEncodedBytes - 8) != kTableMagic) {
    return Status::corruption("not a WeaselDB table (bad magic number)");
  }
  size_t checked = kEncodedBytes - 16;
  if (decode_fixed64(bytes.data() + checked) != XXH3_64bits(bytes.data(), checked)) {
    return Status::corruption("table footer: checksum mismatch");
  }
  Footer f;
  const char* p = bytes.data();
  for (BlockHandle* h : {&f.index, &f.filter, &f.range_del}) {
    h->offset = decode_fixed64(p);
    h->size = decode_fixed64(p + 8);
    p += 16;
  }
  f.format_version = decode_fixed32(p);
  f.flags = decode_fixed32(p + 4);
  if (f.format_version != kTableFormatVersion) {
    return Status::corruption("table format version " + std::to_string(f.format_version) +
                              " is not supported");
  }
  if ((f.flags & ~kTableFlagEncrypted) != 0) {
    return Status::invalid_argument("table flags " + std::to_string(f.flags) +
                                    " are not supported");
  }
  return f;
}

void append_block_trailer(std::string* out, std::string_view stored, Compression compression) {
  auto type = static_cast<uint8_t>(compression);
  out->push_back(static_cast<char>(type));
  append_fixed64(out, block_checksum(stored, type));
}

std::string block_aad(uint64_t file_number, uint64_t offset, uint8_t compression) {
  std::string aad;
  append_fixed64(&aad, file_number);
  append_fixed64(&aad, offset);
  aad.push_back(static_cast<char>(compression));
  return aad;
}

Result<std::string> read_block(const BlockSource& source, const BlockHandle& handle,
                               bool verify_checksum) {
  Result<BlockBytes> bytes = read_block_bytes(source, handle, verify_checksum);
  if (!bytes.ok()) return bytes.status();
  return std::string(bytes.value().view());
}

Result<BlockBytes> read_block_bytes(const BlockSource& source, const BlockHandle& handle,
                                    bool verify_checksum) {
  const RandomAccessFile& file = *source.file;
  auto where = [&] {
    return std::string(source.file_name) + ": block at offset " + std::to_string(handle.offset);
  };
  if (handle.size > file.size() || handle.offset > file.size() - handle.size ||
      file.size() - handle.size - handle.offset < kBlockTrailerBytes) {
    return Status::corruption(where() + ": handle past the end of the file");
  }
  size_t n = static_cast<size_t>(handle.size) + kBlockTrailerBytes;
  ReadBuffer scratch(n);
  Result<std::string_view> got = file.read(handle.offset, n, scratch.data());
  if (!got.ok()) return got.status();
  std::string_view stored = got.value().substr(0, handle.size);
  auto type = static_cast<uint8_t>(got.value()[handle.size]);
  if (verify_checksum &&
      decode_fixed64(got.value().data() + handle.size + 1) != block_checksum(stored, type)) {
    return Status::corruption(where() + ": checksum mismatch");
  }
  if (!is_known_compression(type)) {
    return Status::corruption(where() + ": unknown compression type " + std::to_string(type));
  }
  auto compression = static_cast<Compression>(type);
  std::string decrypted;
  if (source.cipher != nullptr) {
    Status s = source.cipher->open(stored, block_aad(source.file_number, handle.offset, type),
                                   &decrypted);
    if (!s.ok()) return Status::corruption(where() + ": " + s.message());
    stored = decrypted;
  }
  if (compression == Compression::kNone && stored.data() == scratch.data()) {
    return scratch.take(handle.size);  // drops the trailer
  }
  Result<size_t> size = uncompressed_size(compression, stored);
  if (!size.ok()) return Status::corruption(where() + ": " + size.status().message());
  BlockBytes contents = BlockBytes::allocate(size.value());
  Status s = uncompress_to(compression, stored, contents.data(), contents.size());
  if (!s.ok()) return Status::corruption(where() + ": " + s.message());
  return contents;
}

}  // namespace weaseldb::storage
