#include "storage/compaction.hpp"

#include <algorithm>

#include "core/assert.hpp"

#include "storage/merging_iterator.hpp"
#include "storage/range_tombstones.hpp"
#include "storage/rate_limiter.hpp"

namespace weaseldb::storage {

namespace {

// One output file being written.
class OutputFile {
 public:
  explicit OutputFile(const TableSink& sink) : sink_(sink) {}

  Status open() {
    number_ = sink_.new_file_number();
    path_ = table_path(sink_.dir, number_);
    auto file = fs().new_writable_file(path_);
    if (!file.ok()) return file.status();
    file_ = std::move(file).value();
    if (sink_.limiter != nullptr) {
      file_ = std::make_unique<RateLimitedFile>(std::move(file_), sink_.limiter);
    }
    builder_ = std::make_unique<TableBuilder>(sink_.options, file_.get(), number_);
    return {};
  }

  TableBuilder& builder() { return *builder_; }

  Result<LiveTable> finish() {
    Result<UnsyncedTable> table = finish_unsynced();
    if (!table.ok()) return table.status();
    Status s = sync_table(&table.value());
    if (!s.ok()) {
      table.value().live.table->mark_obsolete();  // its file goes with it
      return s;
    }
    return std::move(table.value().live);
  }

  // Writes the rest of the table and opens it for reading, leaving the sync to the caller.
  Result<UnsyncedTable> finish_unsynced() {
    Status s = builder_->finish();  // which also hands every byte to the kernel
    if (!s.ok()) {
      abandon();
      return s;
    }
    auto table = Table::open_file(sink_.context, path_, table_name(number_), number_);
    if (!table.ok()) {
      abandon();
      return table.status();
    }
    UnsyncedTable out;
    out.live.meta = {0, number_, builder_->file_bytes(), builder_->smallest_key(),
                     builder_->largest_key()};
    out.live.table = std::move(table).value();
    out.file = std::move(file_);
    return out;
  }

  void abandon() {
    if (builder_) builder_->abandon();
    if (file_) (void)file_->close();
    (void)fs().remove_file(path_);
  }

 private:
  FileSystem& fs() const { return sink_.context.files->fs(); }

  const TableSink& sink_;
  uint64_t number_ = 0;
  std::string path_;
  std::unique_ptr<WritableFile> file_;
  std::unique_ptr<TableBuilder> builder_;
};

struct Tombstone {
  std::string begin;
  std::string end;
  SequenceNumber sequence;
};

std::vector<Tombstone> read_tombstones(const std::vector<std::shared_ptr<const Table>>& inputs,
                                       Status* status) {
  std::vector<Tombstone> out;
  for (const auto& table : inputs) {
    auto it = table->new_range_tombstone_iterator();
    for (it->seek_to_first(); it->valid(); it->next()) {
      ParsedInternalKey k;
      if (!parse_internal_key(it->key(), &k)) {
        *status = Status::corruption(table->name() + ": bad range tombstone");
        return {};
      }
      out.push_back({std::string(k.user_key), std::string(it->value()), k.sequence});
    }
  }
  return out;
}

// Adds the tombstones' pieces inside [lo, hi) (unbounded when empty optionals) to a file,
// merging pieces that clipping made share a begin and a sequence.
void add_clipped(TableBuilder& builder, const std::vector<Tombstone>& tombstones,
                 const std::optional<std::string>& lo, const std::optional<std::string>& hi) {
  std::vector<Tombstone> pieces;
  for (const Tombstone& t : tombstones) {
    std::string begin = lo && t.begin < *lo ? *lo : t.begin;
    std::string end = hi && t.end > *hi ? *hi : t.end;
    if (begin < end) pieces.push_back({std::move(begin), std::move(end), t.sequence});
  }
  std::sort(pieces.begin(), pieces.end(), [](const Tombstone& a, const Tombstone& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.sequence > b.sequence;
  });
  std::string key;
  for (size_t i = 0; i < pieces.size(); ++i) {
    std::string end = pieces[i].end;
    while (i + 1 < pieces.size() && pieces[i + 1].begin == pieces[i].begin &&
           pieces[i + 1].sequence == pieces[i].sequence) {
      end = std::max(end, pieces[++i].end);
    }
    key.clear();
    append_internal_key(&key, pieces[i].begin, pieces[i].sequence, ValueType::kRangeDeletion);
    builder.add_range_tombstone(key, end);
  }
}

}  // namespace

Status sync_table(UnsyncedTable* table) {
  WEASEL_ASSERT(table->file != nullptr);
  Status s = table->file->sync();
  Status closed = table->file->close();
  table->file.reset();
  return s.ok() ? closed : s;
}

Result<std::optional<LiveTable>> write_memtable_table(const TableSink& sink, const MemTable& mem) {
  Result<std::optional<UnsyncedTable>> table = write_memtable_table_unsynced(sink, mem);
  if (!table.ok()) return table.status();
  if (!table.value()) return std::optional<LiveTable>();
  Status s = sync_table(&*table.value());
  if (!s.ok()) {
    table.value()->live.table->mark_obsolete();  // its file goes with it
    return s;
  }
  return std::optional<LiveTable>(std::move(table.value()->live));
}

Result<std::optional<UnsyncedTable>> write_memtable_table_unsynced(const TableSink& sink,
                                                                   const MemTable& mem) {
  if (mem.entry_count() + mem.range_tombstone_count() == 0) return std::optional<UnsyncedTable>();
  OutputFile out(sink);
  Status s = out.open();
  if (!s.ok()) return s;
  out.builder().expect_keys(mem.entry_count());
  auto points = mem.new_iterator();
  for (points->seek_to_first(); points->valid(); points->next()) {
    out.builder().add(points->key(), points->value());
  }
  auto ranges = mem.new_range_tombstone_iterator();
  for (ranges->seek_to_first(); ranges->valid(); ranges->next()) {
    out.builder().add_range_tombstone(ranges->key(), ranges->value());
  }
  Result<UnsyncedTable> table = out.finish_unsynced();
  if (!table.ok()) return table.status();
  return std::optional<UnsyncedTable>(std::move(table).value());
}

Result<std::vector<LiveTable>> compact_tables(const TableSink& sink,
                                              const std::vector<std::shared_ptr<const Table>>& inputs,
                                              SequenceNumber smallest_snapshot,
                                              uint64_t target_file_bytes,
                                              const DeeperOverlap& deeper, CompactionStats* stats) {
  Status s;
  std::vector<Tombstone> all = read_tombstones(inputs, &s);
  if (!s.ok()) return s;
  auto overlaps_deeper = [&](std::string_view lo, std::string_view hi) {
    return deeper && deeper(lo, hi);
  };
  // Tombstones every reader sees hide what they cover here, and go unless a deeper level
  // still holds keys in their range; the others stay.
  RangeTombstoneSet settled;
  std::vector<Tombstone> kept;
  for (Tombstone& t : all) {
    bool visible_to_all = t.sequence <= smallest_snapshot;
    if (visible_to_all) settled.add(t.begin, t.end, t.sequence);
    if (visible_to_all && !overlaps_deeper(t.begin, t.end)) {
      ++stats->dropped_tombstones;
    } else {
      kept.push_back(std::move(t));
    }
  }
  settled.finish();

  std::vector<std::unique_ptr<InternalIterator>> children;
  // Compaction reads every block once: no point filling the cache with them.
  BlockReadOptions read{true, false, true};
  for (const auto& table : inputs) children.push_back(table->new_iterator(read));
  auto merged = new_merging_iterator(std::move(children));

  std::vector<LiveTable> outputs;
  std::unique_ptr<OutputFile> current;
  std::optional<std::string> lower;  // the current file's range starts here
  std::string user_key;
  bool has_user_key = false;
  SequenceNumber newer_sequence = 0;  // of the previous (newer) version of user_key
  auto finish_current = [&](const std::optional<std::string>& upper) -> Status {
    add_clipped(current->builder(), kept, lower, upper);
    if (current->builder().entries() + current->builder().range_tombstones() == 0) {
      // Only tombstones survived and none reaches into this file's range: an empty table
      // would have no key range to file it under.
      current->abandon();
      current.reset();
      lower = upper;
      return {};
    }
    Result<LiveTable> done = current->finish();
    current.reset();
    if (!done.ok()) return done.status();
    stats->bytes_written += done.value().meta.bytes;
    outputs.push_back(std::move(done).value());
    lower = upper;
    return {};
  };
  auto fail = [&](Status status) {
    if (current) current->abandon();
    for (const LiveTable& t : outputs) t.table->mark_obsolete();
    return status;
  };

  for (merged->seek_to_first(); merged->valid(); merged->next()) {
    if (sink.flush_pending != nullptr && sink.flush_pending->load(std::memory_order_relaxed)) {
      s = sink.flush_between();
      if (!s.ok()) return fail(s);
    }
    ParsedInternalKey k;
    if (!parse_internal_key(merged->key(), &k)) return fail(Status::corruption("bad key in compaction"));
    ++stats->input_entries;
    bool new_key = !has_user_key || k.user_key != user_key;
    if (new_key) {
      // A cut between user keys keeps every version of a key in one file.
      if (current && current->builder().file_bytes() >= target_file_bytes) {
        s = finish_current(std::string(k.user_key));
        if (!s.ok()) return fail(s);
      }
      user_key.assign(k.user_key);
      has_user_key = true;
    }
    bool drop = (!new_key && newer_sequence <= smallest_snapshot) ||
                (k.type == ValueType::kDeletion && k.sequence <= smallest_snapshot &&
                 !overlaps_deeper(k.user_key, k.user_key)) ||
                (k.type == ValueType::kValue && settled.covering(k.user_key) > k.sequence);
    newer_sequence = k.sequence;
    if (drop) {
      ++stats->dropped_entries;
      continue;
    }
    if (!current) {
      current = std::make_unique<OutputFile>(sink);
      s = current->open();
      if (!s.ok()) return fail(s);
    }
    current->builder().add(merged->key(), merged->value());
  }
  if (!merged->status().ok()) return fail(merged->status());
  // Only tombstones survive past the last cut: a file for them, if any reaches past it (a
  // file with nothing in it would have no key range).
  bool tombstones_left = std::any_of(kept.begin(), kept.end(), [&](const Tombstone& t) {
    return !lower || t.end > *lower;
  });
  if (!current && tombstones_left) {
    current = std::make_unique<OutputFile>(sink);
    s = current->open();
    if (!s.ok()) return fail(s);
  }
  if (current) {
    s = finish_current(std::nullopt);
    if (!s.ok()) return fail(s);
  }
  return outputs;
}

}  // namespace weaseldb::storage
