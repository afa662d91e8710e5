// DBImpl: opening (recovery), table writing and closing. Writes: db_write.cpp; reads:
// db_read.cpp.

#include "storage/db_impl.hpp"

#include <algorithm>

#include "storage/compression.hpp"
#include "storage/wal_reader.hpp"

namespace weaseldb::storage {

namespace {

Status validate_options(const Options& o) {
  auto bad = [](const char* field, const char* why) {
    return Status::invalid_argument(std::string("Options::") + field + ": " + why);
  };
  if (o.memtable_bytes < (size_t{64} << 10)) return bad("memtable_bytes", "below 64 KiB");
  if (o.max_immutable_memtables < 1) return bad("max_immutable_memtables", "must be >= 1");
  if (o.block_bytes < 256 || o.block_bytes > (size_t{64} << 20)) {
    return bad("block_bytes", "outside [256 B, 64 MiB]");
  }
  if (o.block_restart_interval < 1) return bad("block_restart_interval", "must be >= 1");
  if (o.bloom_bits_per_key > 100) return bad("bloom_bits_per_key", "above 100");
  if (!is_known_compression(static_cast<uint8_t>(o.compression))) {
    return bad("compression", "unknown codec");
  }
  if (o.l0_compaction_trigger < 1) return bad("l0_compaction_trigger", "must be >= 1");
  if (o.l0_stop_writes_trigger <= o.l0_compaction_trigger) {
    // Writers would wait for a compaction that never starts.
    return bad("l0_stop_writes_trigger", "must be above l0_compaction_trigger");
  }
  if (o.max_open_files < 4 || o.max_open_files > (uint32_t{1} << 20)) {
    return bad("max_open_files", "outside [4, 1048576]");
  }
  if (o.compaction_rate_limit_bytes_per_sec > (uint64_t{1} << 50)) {
    return bad("compaction_rate_limit_bytes_per_sec", "above 2^50 (use 0 for unlimited)");
  }
  if (o.target_file_bytes < (uint64_t{4} << 10)) return bad("target_file_bytes", "below 4 KiB");
  if (o.max_levels < 2 || o.max_levels > 20) return bad("max_levels", "outside [2, 20]");
  if (o.level_size_multiplier < 2) return bad("level_size_multiplier", "must be >= 2");
  if (o.level1_bytes < o.target_file_bytes) return bad("level1_bytes", "below target_file_bytes");
  return {};
}

}  // namespace

Result<std::unique_ptr<DB>> DB::open(const Options& options, const std::string& path) {
  Status s = validate_options(options);
  if (!s.ok()) return s;
  auto db = std::make_unique<DBImpl>(options, path);
  s = db->open();
  if (!s.ok()) return s;
  return std::unique_ptr<DB>(std::move(db));
}

namespace {

TableContext make_table_context(const Options& options, std::shared_ptr<FileSystem> fs) {
  TableContext context;
  if (options.block_cache_bytes > 0) {
    context.cache = std::make_shared<BlockCache>(options.block_cache_bytes);
  }
  context.bytes_read = std::make_shared<std::atomic<uint64_t>>(0);
  context.compaction_bytes_read = std::make_shared<std::atomic<uint64_t>>(0);
  context.files = std::make_shared<TableCache>(std::move(fs), options.max_open_files);
  return context;
}

}  // namespace

DBImpl::DBImpl(const Options& options, std::string path)
    : options_(options),
      path_(std::move(path)),
      fs_(options.file_system != nullptr ? options.file_system : posix_file_system()),
      table_options_(TableOptions::from(options)),
      table_context_(make_table_context(options, fs_)),
      levels_(options.max_levels),
      compact_pointer_(options.max_levels) {
  if (options.compaction_rate_limit_bytes_per_sec > 0) {
    limiter_ = std::make_unique<RateLimiter>(options.compaction_rate_limit_bytes_per_sec);
  }
}

DBImpl::~DBImpl() { (void)close_impl(true); }

Status DBImpl::open() {
  Result<bool> exists = fs_->file_exists(path_);
  if (!exists.ok()) return exists.status();
  if (!exists.value() && !options_.create_if_missing) {
    return Status::not_found(path_ + ": no database (create_if_missing is false)");
  }
  Status s = fs_->create_dir_if_missing(path_);
  if (!s.ok()) return s;
  Result<std::unique_ptr<FileLock>> lock = fs_->lock_file(path_ + "/LOCK");
  if (!lock.ok()) return lock.status();
  lock_ = std::move(lock).value();
  if (!options_.encryption_key_file.empty()) {
    Result<std::unique_ptr<Cipher>> cipher = Cipher::from_key_file(options_.encryption_key_file);
    if (!cipher.ok()) {
      return Status::invalid_argument("Options::encryption_key_file: " +
                                      cipher.status().message());
    }
    cipher_ = std::move(cipher).value();
    table_options_.cipher = cipher_;
    table_context_.cipher = cipher_;
  }

  ManifestState state;
  std::vector<uint64_t> wal_numbers;
  s = recover(&state, &wal_numbers);
  if (!s.ok()) return s;

  // Everything the old WALs hold goes to an L0 table, then a fresh WAL takes over.
  auto mem = std::make_shared<MemTable>();
  SequenceNumber max_sequence = state.last_sequence;
  for (size_t i = 0; i < wal_numbers.size(); ++i) {
    s = replay_wal(wal_numbers[i], i + 1 == wal_numbers.size(), mem.get(), &max_sequence);
    if (!s.ok()) return s;
  }
  next_file_number_ = state.next_file_number;
  compaction_floor_ = state.compaction_floor;
  if (options_.history_floor) {
    if (*options_.history_floor < compaction_floor_) {
      return Status::invalid_argument("Options::history_floor: history below " +
                                      std::to_string(compaction_floor_) +
                                      " may already be compacted away");
    }
    history_floor_ = options_.history_floor;
  }
  Result<std::optional<LiveTable>> table = write_memtable_table(table_sink(), *mem);
  if (!table.ok()) return table.status();
  if (table.value()) levels_[0].insert(levels_[0].begin(), *table.value());
  wal_number_ = next_file_number_++;
  s = start_wal(wal_number_);
  if (!s.ok()) return s;
  log_number_ = wal_number_;
  flushed_sequence_ = max_sequence;
  state = manifest_state();
  s = write_manifest(*fs_, path_, state, cipher_.get());
  if (!s.ok()) return s;
  last_sequence_.store(max_sequence, std::memory_order_release);
  remove_obsolete_files(state);

  mem_ = std::make_shared<MemTable>();
  install_read_state();
  background_ = std::thread([this] { background_loop(); });
  return {};
}

Status DBImpl::recover(ManifestState* state, std::vector<uint64_t>* wal_numbers) {
  Result<ManifestState> manifest = read_manifest(*fs_, path_, cipher_.get());
  if (manifest.ok()) {
    if (options_.error_if_exists) return Status::invalid_argument(path_ + ": database exists");
    *state = std::move(manifest).value();
  } else if (manifest.status().code() != StatusCode::kNotFound) {
    return manifest.status();
  }
  Result<std::vector<std::string>> names = fs_->list_dir(path_);
  if (!names.ok()) return names.status();
  uint64_t max_number = 0;
  for (const std::string& name : names.value()) {
    uint64_t number = 0;
    FileKind kind = parse_file_name(name, &number);
    if (kind == FileKind::kOther) continue;
    max_number = std::max(max_number, number);
    if (kind == FileKind::kWal && number >= state->log_number) wal_numbers->push_back(number);
  }
  std::sort(wal_numbers->begin(), wal_numbers->end());
  // Files may exist past the manifest's counter (a WAL started after its last rewrite).
  state->next_file_number = std::max(state->next_file_number, max_number + 1);
  return open_tables(*state);
}

Status DBImpl::open_tables(const ManifestState& state) {
  for (const TableMeta& meta : state.tables) {
    Result<bool> exists = fs_->file_exists(table_path(path_, meta.number));
    if (exists.ok() && !exists.value()) {
      return Status::corruption(path_ + ": table " + table_name(meta.number) +
                                " listed in the manifest is missing");
    }
    auto table = Table::open_file(table_context_, table_path(path_, meta.number),
                                  table_name(meta.number), meta.number);
    if (!table.ok()) return table.status();
    if (meta.level >= levels_.size()) {
      return Status::invalid_argument(path_ + ": MANIFEST: a table in level " +
                                      std::to_string(meta.level) + " (Options::max_levels is " +
                                      std::to_string(levels_.size()) + ")");
    }
    levels_[meta.level].push_back({meta, std::move(table).value()});
  }
  for (size_t level = 1; level < levels_.size(); ++level) {
    std::vector<LiveTable>& files = levels_[level];
    std::sort(files.begin(), files.end(), [](const LiveTable& a, const LiveTable& b) {
      return compare_internal_keys(a.meta.smallest, b.meta.smallest) < 0;
    });
    for (size_t i = 1; i < files.size(); ++i) {
      if (compare_internal_keys(files[i - 1].meta.largest, files[i].meta.smallest) >= 0) {
        return Status::corruption(path_ + ": MANIFEST: tables of level " +
                                  std::to_string(level) + " overlap");
      }
    }
  }
  return {};
}

Status DBImpl::replay_wal(uint64_t number, bool last, MemTable* mem,
                          SequenceNumber* max_sequence) {
  std::string path = wal_path(path_, number);
  auto file = fs_->new_sequential_file(path);
  if (!file.ok()) return file.status();
  WalReader reader(file.value().get(), path);
  std::string_view record;
  WriteBatch batch;
  std::string opened;
  while (reader.read_record(&record)) {
    Status s = decode_wal_record(record, number, &opened, &batch);
    if (s.code() == StatusCode::kInvalidArgument) return Status::invalid_argument(path + ": " + s.message());
    if (s.ok()) s = BatchApplier::validate(batch);
    if (!s.ok()) {
      return Status::corruption(path + ": record at offset " +
                                std::to_string(reader.last_record_offset()) + ": " + s.message());
    }
    if (batch.sequence() <= *max_sequence || batch.sequence() > kMaxSequenceNumber) {
      return Status::corruption(path + ": record at offset " +
                                std::to_string(reader.last_record_offset()) +
                                ": sequence does not increase");
    }
    *max_sequence = batch.sequence();
    applier_.apply(batch, batch.sequence(), mem);
  }
  if (!reader.status().ok()) return reader.status();
  // WALs are synced when they are sealed: only the newest can end in a torn tail.
  if (reader.torn_tail() && !last) {
    return Status::corruption(path + ": torn tail at offset " +
                              std::to_string(reader.torn_tail()->offset) +
                              " in a WAL that was sealed (" + reader.torn_tail()->reason + ")");
  }
  return {};
}

std::string_view DBImpl::encode_wal_record(const std::string& rep, uint64_t wal_number) {
  if (cipher_ == nullptr) {
    sealed_.assign(1, static_cast<char>(kWalPlain));
    sealed_ += rep;
    return sealed_;
  }
  std::string aad;
  append_fixed64(&aad, wal_number);
  Status s = cipher_->seal(rep, aad, &record_sealed_);
  WEASEL_ASSERT(s.ok());  // only fails without randomness or memory
  sealed_.assign(1, static_cast<char>(kWalSealed));
  sealed_ += record_sealed_;
  return sealed_;
}

Status DBImpl::decode_wal_record(std::string_view record, uint64_t wal_number,
                                 std::string* scratch, WriteBatch* batch) const {
  if (record.empty()) return Status::corruption("empty WAL record");
  auto kind = static_cast<uint8_t>(record[0]);
  record.remove_prefix(1);
  if (kind == kWalPlain) return batch->set_rep(record);
  if (kind != kWalSealed) return Status::corruption("unknown WAL record kind");
  if (cipher_ == nullptr) {
    return Status::invalid_argument("the WAL is encrypted and no key is configured");
  }
  std::string aad;
  append_fixed64(&aad, wal_number);
  Status s = cipher_->open(record, aad, scratch);
  if (!s.ok()) return s;
  return batch->set_rep(*scratch);
}

Status DBImpl::start_wal(uint64_t number) {
  // Mapped by the OS file system: appending a record is a memcpy, not a write().
  auto file = fs_->new_log_file(wal_path(path_, number));
  if (!file.ok()) return file.status();
  wal_file_ = std::move(file).value();
  wal_ = std::make_unique<WalWriter>(wal_file_.get());
  // The new file's directory entry must survive a crash before anything relies on it.
  return fs_->sync_dir(path_);
}

void DBImpl::remove_obsolete_files(const ManifestState& state) {
  Result<std::vector<std::string>> names = fs_->list_dir(path_);
  if (!names.ok()) return;  // left for the next open: harmless
  for (const std::string& name : names.value()) {
    uint64_t number = 0;
    FileKind kind = parse_file_name(name, &number);
    bool live = false;
    if (kind == FileKind::kWal) {
      live = number >= state.log_number;
    } else if (kind == FileKind::kTable) {
      live = std::any_of(state.tables.begin(), state.tables.end(),
                         [&](const TableMeta& t) { return t.number == number; }) ||
             number >= state.next_file_number;  // being written right now
    } else {
      continue;
    }
    if (!live) (void)fs_->remove_file(path_ + "/" + name);
  }
}

TableSink DBImpl::table_sink() {
  TableSink sink;
  sink.dir = path_;
  sink.options = table_options_;
  sink.context = table_context_;
  sink.new_file_number = [this] {
    std::lock_guard lock(mu_);
    return next_file_number_++;
  };
  return sink;
}

Status DBImpl::close() { return close_impl(false); }

Status DBImpl::close_impl(bool force) {
  std::unique_lock lock(mu_);
  if (closed_) return {};
  if (!force && live_iterators_->load() > 0) {
    return Status::busy(path_ + ": close() with " + std::to_string(live_iterators_->load()) +
                        " live iterator(s)");
  }
  closing_ = true;  // new writes are refused from here on
  // Nothing may keep close() waiting: paused compactions run again (stalled writers need
  // them) and compactions stop pacing their writes.
  if (limiter_ != nullptr) limiter_->close();
  background_cv_.notify_all();
  // Let queued writers finish, then the background thread drain the immutable memtables.
  progress_cv_.wait(lock, [&] { return writers_.empty() && !solo_writing_; });
  progress_cv_.wait(lock,
                    [&] { return flushed_count_ == sealed_count_ || !background_error_.ok(); });
  closed_ = true;
  background_cv_.notify_all();
  progress_cv_.notify_all();
  lock.unlock();
  if (background_.joinable()) background_.join();
  Status s = background_error_;
  if (wal_ != nullptr) {
    Status synced = wal_->sync();
    Status file_closed = wal_file_->close();
    if (s.ok()) s = synced.ok() ? file_closed : synced;
  }
  lock_.reset();
  return s;
}

Statistics DBImpl::statistics() const {
  Statistics st;
  auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  st.flushes = get(counters_.flushes);
  st.compactions = get(counters_.compactions);
  st.wal_bytes_written = get(counters_.wal_bytes_written);
  st.wal_syncs = get(counters_.wal_syncs);
  st.flush_bytes_written = get(counters_.flush_bytes_written);
  st.compaction_bytes_written = get(counters_.compaction_bytes_written);
  st.table_bytes_written = st.flush_bytes_written + st.compaction_bytes_written;
  st.compaction_input_bytes = get(counters_.compaction_input_bytes);
  st.compaction_bytes_read = get(*table_context_.compaction_bytes_read);
  st.compaction_entries_dropped = get(counters_.compaction_entries_dropped);
  st.table_bytes_read = get(*table_context_.bytes_read);
  if (table_context_.cache) {
    st.block_cache_hits = table_context_.cache->hits();
    st.block_cache_misses = table_context_.cache->misses();
    st.block_cache_usage_bytes = table_context_.cache->usage_bytes();
  }
  st.table_cache_hits = table_context_.files->hits();
  st.table_cache_misses = table_context_.files->misses();
  st.open_table_files = table_context_.files->open_files();
  st.stall_micros = get(counters_.stall_micros);
  st.stalls = get(counters_.stalls);
  st.slowdowns = get(counters_.slowdowns);
  if (limiter_ != nullptr) st.compaction_rate_limit_wait_micros = limiter_->waited_micros();
  std::lock_guard lock(mu_);
  st.memtable_bytes = mem_ ? mem_->memory_bytes() : 0;
  st.immutable_memtables = immutables_.size();
  st.l0_files = levels_[0].size();
  for (const auto& level : levels_) {
    st.table_files += level.size();
    st.level_files.push_back(level.size());
    uint64_t bytes = 0;
    for (const LiveTable& t : level) bytes += t.meta.bytes;
    st.level_bytes.push_back(bytes);
  }
  return st;
}

}  // namespace weaseldb::storage
