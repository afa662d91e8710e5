#include "storage/table_builder.hpp"

#include <cstring>

#include "core/assert.hpp"
#include "storage/compression.hpp"
#include "storage/internal_key.hpp"

namespace weaseldb::storage {

TableOptions TableOptions::from(const Options& options) {
  TableOptions t;
  t.block_bytes = options.block_bytes;
  t.restart_interval = options.block_restart_interval;
  t.bloom_bits_per_key = options.bloom_bits_per_key;
  t.compression = options.compression;
  t.compression_level = options.compression_level;
  return t;
}

TableBuilder::TableBuilder(const TableOptions& options, WritableFile* file,
                           uint64_t file_number)
    : options_(options),
      file_(file),
      file_number_(file_number),
      data_block_(options.restart_interval),
      index_block_(1),
      range_del_block_(1) {
  if (options.bloom_bits_per_key > 0) {
    bloom_ = std::make_unique<BloomBuilder>(options.bloom_bits_per_key);
  }
}

void TableBuilder::expect_keys(uint64_t keys) {
  if (bloom_) bloom_->reserve(static_cast<size_t>(keys));
}

void TableBuilder::note_key(std::string_view internal_key) {
  if (smallest_.empty() || compare_internal_keys(internal_key, smallest_) < 0) {
    smallest_.assign(internal_key);
  }
  if (largest_.empty() || compare_internal_keys(internal_key, largest_) > 0) {
    largest_.assign(internal_key);
  }
}

void TableBuilder::add(std::string_view internal_key, std::string_view value) {
  WEASEL_ASSERT(!closed_);
  WEASEL_ASSERT(entries_ == 0 || compare_internal_keys(internal_key, last_key_) > 0);
  if (!status_.ok()) return;
  if (pending_index_) {
    shorten_separator(&last_key_, internal_key);
    std::string handle;
    pending_handle_.encode_to(&handle);
    index_block_.add(last_key_, handle);
    pending_index_ = false;
  }
  if (bloom_) bloom_->add(extract_user_key(internal_key));
  // Keys come in increasing order: the first and the last bound the entries (finish()
  // folds them into smallest_/largest_), with no comparison per entry.
  if (entries_ == 0) first_key_.assign(internal_key);
  last_key_.assign(internal_key);
  ++entries_;
  data_block_.add(internal_key, value);
  if (data_block_.estimated_bytes() >= options_.block_bytes) flush_data_block();
}

void TableBuilder::add_range_tombstone(std::string_view begin_internal_key,
                                       std::string_view end_user_key) {
  WEASEL_ASSERT(!closed_);
  if (!status_.ok()) return;
  note_key(begin_internal_key);
  // The file's range reaches the tombstone's end (exclusive): a sentinel that sorts before
  // every real entry of that user key stands for it.
  std::string end_sentinel(end_user_key);
  append_fixed64(&end_sentinel, pack_trailer(kMaxSequenceNumber, kTypeForSeek));
  note_key(end_sentinel);
  ++range_tombstones_;
  range_del_block_.add(begin_internal_key, end_user_key);
}

void TableBuilder::flush_data_block() {
  if (data_block_.empty()) return;
  WEASEL_ASSERT(!pending_index_);
  pending_handle_ = write_block(data_block_.finish(), true);
  data_block_.reset();
  pending_index_ = true;
}

BlockHandle TableBuilder::write_block(std::string_view contents, bool compressible) {
  std::string_view stored = contents;
  Compression type = Compression::kNone;
  std::string_view packed;
  if (compressible) {
    packed = compress_into(options_.compression, options_.compression_level, contents,
                           &compressed_);
  }
  if (!packed.empty()) {
    stored = packed;
    type = options_.compression;
  }
  if (options_.cipher) {
    auto type_byte = static_cast<uint8_t>(type);
    Status s = options_.cipher->seal(stored, block_aad(file_number_, offset_, type_byte), &sealed_);
    if (!s.ok()) {
      status_ = s;
      return {};
    }
    stored = sealed_;
  }
  BlockHandle handle{offset_, stored.size()};
  std::string trailer;  // kBlockTrailerBytes: in the string's inline buffer, no allocation
  append_block_trailer(&trailer, stored, type);
  WEASEL_ASSERT(trailer.size() == kBlockTrailerBytes);
  std::string_view out;
  if (stored.data() == compressed_.data() &&
      compressed_.size() >= stored.size() + kBlockTrailerBytes) {
    // Compressed at the start of compressed_, which has room after it (lz4's bound): the
    // trailer goes there, so the block is not copied once more before the append. The
    // buffer keeps its size, so the next block is not zero-filled by a resize.
    std::memcpy(compressed_.data() + stored.size(), trailer.data(), kBlockTrailerBytes);
    out = {compressed_.data(), stored.size() + kBlockTrailerBytes};
  } else {
    // Stored as it is (the filter, a block that would not shrink, a sealed one): two
    // appends to the buffered file, not a copy of the block with its trailer (the filter of
    // a 64 MiB memtable is ~600 KB, copied at the end of a flush, when memory peaks).
    status_ = file_->append(stored);
    if (status_.ok()) status_ = file_->append(trailer);
    offset_ += stored.size() + trailer.size();
    return handle;
  }
  status_ = file_->append(out);
  offset_ += out.size();
  return handle;
}

Status TableBuilder::finish() {
  WEASEL_ASSERT(!closed_);
  closed_ = true;
  if (entries_ > 0) {
    note_key(first_key_);
    note_key(last_key_);  // before the index shortens it
  }
  flush_data_block();
  Footer footer;
  if (options_.cipher) footer.flags = kTableFlagEncrypted;
  if (status_.ok() && bloom_) footer.filter = write_block(bloom_->finish(), false);
  if (status_.ok() && !range_del_block_.empty()) {
    footer.range_del = write_block(range_del_block_.finish(), true);
  }
  if (status_.ok() && pending_index_) {
    shorten_successor(&last_key_);
    std::string handle;
    pending_handle_.encode_to(&handle);
    index_block_.add(last_key_, handle);
    pending_index_ = false;
  }
  if (status_.ok()) footer.index = write_block(index_block_.finish(), true);
  if (status_.ok()) {
    std::string encoded = footer.encode();
    status_ = file_->append(encoded);
    offset_ += encoded.size();
  }
  if (status_.ok()) status_ = file_->flush();
  return status_;
}

}  // namespace weaseldb::storage
