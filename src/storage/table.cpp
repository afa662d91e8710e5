#include "storage/table.hpp"

#include <cstring>
#include <optional>

#include "core/assert.hpp"
#include "storage/bloom.hpp"

namespace weaseldb::storage {

Result<std::shared_ptr<const Table>> Table::open(std::unique_ptr<RandomAccessFile> file,
                                                 std::string name, TableContext context,
                                                 uint64_t file_number) {
  std::shared_ptr<const RandomAccessFile> pinned(std::move(file));
  std::shared_ptr<Table> table(
      new Table(pinned, std::string(), std::move(name), std::move(context), file_number));
  return open_from(std::move(table), *pinned);
}

Result<std::shared_ptr<const Table>> Table::open_file(TableContext context, std::string path,
                                                      std::string name, uint64_t file_number) {
  WEASEL_ASSERT(context.files != nullptr);
  std::shared_ptr<Table> table(
      new Table(nullptr, std::move(path), std::move(name), std::move(context), file_number));
  Result<std::shared_ptr<const RandomAccessFile>> file = table->file();
  if (!file.ok()) return file.status();
  return open_from(std::move(table), *file.value());
}

Result<std::shared_ptr<const Table>> Table::open_from(std::shared_ptr<Table> table,
                                                      const RandomAccessFile& file) {
  uint64_t size = file.size();
  const std::string& name = table->name_;
  if (size < Footer::kEncodedBytes) {
    return Status::corruption(name + ": too short to be a table (" + std::to_string(size) +
                              " bytes)");
  }
  std::string scratch(Footer::kEncodedBytes, '\0');
  Result<std::string_view> bytes =
      file.read(size - Footer::kEncodedBytes, Footer::kEncodedBytes, scratch.data());
  if (!bytes.ok()) return bytes.status();
  Result<Footer> footer = Footer::decode(bytes.value());
  if (!footer.ok()) {
    return Status(footer.status().code() == StatusCode::kCorruption
                      ? Status::corruption(name + ": " + footer.status().message())
                      : footer.status());
  }
  bool encrypted = (footer.value().flags & kTableFlagEncrypted) != 0;
  if (encrypted && table->context_.cipher == nullptr) {
    return Status::invalid_argument(name + ": the table is encrypted and no key is configured");
  }
  table->file_bytes_ = size;
  table->encrypted_ = encrypted;
  Status s = table->load_metadata(file, footer.value());
  if (!s.ok()) return s;
  return std::shared_ptr<const Table>(std::move(table));
}

Table::~Table() {
  if (pinned_ != nullptr) return;
  context_.files->forget(cache_id_);
  if (obsolete_.load(std::memory_order_relaxed)) (void)context_.files->fs().remove_file(path_);
}

Result<std::shared_ptr<const RandomAccessFile>> Table::file() const {
  if (pinned_ != nullptr) return pinned_;
  return context_.files->acquire(cache_id_, path_);
}

Status Table::load_metadata(const RandomAccessFile& file, const Footer& footer) {
  Result<std::string> index = read_block(source(&file), footer.index, true);
  if (!index.ok()) return index.status();
  Result<std::shared_ptr<const Block>> parsed = Block::parse(std::move(index).value());
  if (!parsed.ok()) return Status::corruption(name_ + ": index " + parsed.status().message());
  Result<TableIndex> decoded = TableIndex::build(*parsed.value());
  if (!decoded.ok()) return Status::corruption(name_ + ": index " + decoded.status().message());
  index_ = std::move(decoded).value();
  if (footer.filter.size > 0) {
    Result<std::string> filter = read_block(source(&file), footer.filter, true);
    if (!filter.ok()) return filter.status();
    // Copied to a 64-byte boundary, so that a blocked filter's line is one cache line.
    const std::string& bytes = filter.value();
    filter_storage_.assign(bytes.size() + 63, '\0');
    size_t skew = reinterpret_cast<uintptr_t>(filter_storage_.data()) % 64;
    size_t start = skew == 0 ? 0 : 64 - skew;
    std::memcpy(filter_storage_.data() + start, bytes.data(), bytes.size());
    filter_ = BloomFilter(std::string_view(filter_storage_.data() + start, bytes.size()));
  }
  if (footer.range_del.size > 0) return load_range_tombstones(file, footer.range_del);
  return {};
}

Status Table::load_range_tombstones(const RandomAccessFile& file, const BlockHandle& handle) {
  Result<std::string> bytes = read_block(source(&file), handle, true);
  if (!bytes.ok()) return bytes.status();
  Result<std::shared_ptr<const Block>> parsed = Block::parse(std::move(bytes).value());
  if (!parsed.ok()) return Status::corruption(name_ + ": range tombstones " + parsed.status().message());
  range_del_ = std::move(parsed).value();
  auto it = range_del_->new_iterator();
  for (it->seek_to_first(); it->valid(); it->next()) {
    ParsedInternalKey key;
    if (!parse_internal_key(it->key(), &key) || key.type != ValueType::kRangeDeletion ||
        key.user_key >= it->value()) {
      return Status::corruption(name_ + ": bad range tombstone");
    }
    tombstones_.push_back({std::string(key.user_key), std::string(it->value()), key.sequence});
  }
  if (!it->status().ok()) return Status::corruption(name_ + ": " + it->status().message());
  return {};
}

bool Table::may_contain(std::string_view user_key) const {
  return filter_.may_contain(filter_.hash(user_key));
}

Result<std::shared_ptr<const Block>> Table::read_data_block(
    const BlockHandle& handle, const BlockReadOptions& options,
    const RandomAccessFile* file) const {
  BlockCache* cache = context_.cache.get();
  if (cache != nullptr) {
    if (auto cached = cache->lookup(cache_id_, handle.offset)) return cached;
  }
  std::shared_ptr<const RandomAccessFile> lease;
  if (file == nullptr) {
    Result<std::shared_ptr<const RandomAccessFile>> leased = this->file();
    if (!leased.ok()) return leased.status();
    lease = std::move(leased).value();
    file = lease.get();
  }
  Result<BlockBytes> bytes = read_block_bytes(source(file), handle, options.verify_checksums);
  if (!bytes.ok()) return bytes.status();
  const auto& counter = options.for_compaction ? context_.compaction_bytes_read : context_.bytes_read;
  if (counter) counter->fetch_add(handle.size + kBlockTrailerBytes, std::memory_order_relaxed);
  Result<std::shared_ptr<const Block>> block = Block::parse(std::move(bytes).value());
  if (!block.ok()) {
    return Status::corruption(name_ + ": data block at offset " + std::to_string(handle.offset) +
                              ": " + block.status().message());
  }
  // Only verified blocks are shared: an unverified read must not vouch for later ones.
  if (cache != nullptr && options.fill_cache && options.verify_checksums) {
    cache->insert(cache_id_, handle.offset, block.value());
  }
  return block;
}

Result<LookupResult> Table::get(const LookupKey& key, const BlockReadOptions& options,
                                std::string* value) const {
  // The filter's line is fetched while the index is searched: both are likely cache misses.
  uint64_t hash = filter_.hash(key.user_key());
  size_t index = index_.seek(key.internal_key());
  if (!filter_.may_contain(hash)) return LookupResult{};
  if (index == index_.size()) return LookupResult{};
  Result<std::shared_ptr<const Block>> block = read_data_block(index_.handle(index), options);
  if (!block.ok()) return block.status();
  // An iterator on the stack over the block this call pins: a point read allocates nothing.
  BlockIter it(*block.value());
  it.seek(key.internal_key());
  if (!it.valid()) {
    if (!it.status().ok()) return Status::corruption(name_ + ": " + it.status().message());
    return LookupResult{};
  }
  ParsedInternalKey found;
  if (!parse_internal_key(it.key(), &found) || found.type == ValueType::kRangeDeletion) {
    return Status::corruption(name_ + ": bad internal key in a data block");
  }
  if (found.user_key != key.user_key()) return LookupResult{};
  if (found.type == ValueType::kDeletion) {
    return LookupResult{LookupResult::Kind::kDeleted, found.sequence};
  }
  value->assign(it.value());
  return LookupResult{LookupResult::Kind::kValue, found.sequence};
}

SequenceNumber Table::covering_tombstone(std::string_view user_key,
                                         SequenceNumber sequence) const {
  SequenceNumber best = 0;
  for (const RangeTombstone& t : tombstones_) {
    if (t.begin > user_key) break;
    if (t.sequence <= sequence && t.sequence > best && user_key < t.end) best = t.sequence;
  }
  return best;
}

// Two levels: the index block points at data blocks, loaded one at a time.
class Table::Iter final : public InternalIterator {
 public:
  Iter(std::shared_ptr<const Table> table, const BlockReadOptions& options)
      : table_(std::move(table)), index_(table_->index_.size()), options_(options) {}

  bool valid() const override { return data_ && data_->valid(); }
  std::string_view key() const override { return data_->key(); }
  std::string_view value() const override { return data_->value(); }
  Status status() const override {
    if (!status_.ok()) return status_;
    if (data_ && !data_->status().ok()) {
      return Status::corruption(table_->name_ + ": " + data_->status().message());
    }
    return {};
  }

  void seek_to_first() override {
    status_ = {};
    index_ = 0;
    if (load_block()) data_->seek_to_first();
    skip_forward();
  }
  void seek_to_last() override {
    status_ = {};
    index_ = table_->index_.size() - 1;  // wraps to "none" when the index is empty
    if (load_block()) data_->seek_to_last();
    skip_backward();
  }
  void seek(std::string_view target) override {
    status_ = {};
    index_ = table_->index_.seek(target);
    if (load_block()) data_->seek(target);
    skip_forward();
  }
  void next() override {
    WEASEL_ASSERT(valid());
    data_->next();
    skip_forward();
  }
  void prev() override {
    WEASEL_ASSERT(valid());
    data_->prev();
    skip_backward();
  }

 private:
  // Makes data_ iterate the block the index is at; false (data_ null) at the index's end or
  // on an error.
  bool load_block() {
    data_.reset();
    if (!index_valid()) return false;
    if (file_ == nullptr) {  // leased on first use, held until the iterator goes
      Result<std::shared_ptr<const RandomAccessFile>> file = table_->file();
      if (!file.ok()) {
        status_ = file.status();
        return false;
      }
      file_ = std::move(file).value();
    }
    Result<std::shared_ptr<const Block>> block =
        table_->read_data_block(table_->index_.handle(index_), options_, file_.get());
    if (!block.ok()) {
      status_ = block.status();
      return false;
    }
    data_.emplace(std::move(block).value());
    return true;
  }

  bool index_valid() const { return index_ < table_->index_.size(); }
  bool stopped() const { return !status_.ok() || (data_ && !data_->status().ok()); }

  // Moves past exhausted blocks (an empty block, or the end of one).
  void skip_forward() {
    while (!valid() && !stopped() && index_valid()) {
      ++index_;
      if (load_block()) data_->seek_to_first();
    }
  }
  void skip_backward() {
    while (!valid() && !stopped() && index_valid()) {
      --index_;  // wraps past the first entry to "none"
      if (load_block()) data_->seek_to_last();
    }
  }

  std::shared_ptr<const Table> table_;
  std::shared_ptr<const RandomAccessFile> file_;
  size_t index_;  // the index entry of the current block; >= the index's size: none
  // In place (no allocation per block); it shares ownership of its block.
  std::optional<BlockIter> data_;
  BlockReadOptions options_;
  Status status_;
};

std::unique_ptr<InternalIterator> Table::new_iterator(const BlockReadOptions& options) const {
  return std::make_unique<Iter>(shared_from_this(), options);
}

std::unique_ptr<InternalIterator> Table::new_range_tombstone_iterator() const {
  if (range_del_ == nullptr) {
    // An empty block: iterating it yields nothing.
    static const std::shared_ptr<const Block> empty = [] {
      std::string bytes(8, '\0');
      bytes[4] = 1;  // one restart point, at offset 0
      return Block::parse(std::move(bytes)).value();
    }();
    return empty->new_iterator();
  }
  return range_del_->new_iterator();
}

}  // namespace weaseldb::storage
