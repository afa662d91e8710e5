// DBImpl: reads (get, iterators) and snapshots.

#include "storage/db_impl.hpp"
#include "storage/db_iterator.hpp"
#include "storage/level_iterator.hpp"
#include "storage/merging_iterator.hpp"

namespace weaseldb::storage {

namespace {

BlockReadOptions block_options(const ReadOptions& options) {
  return {options.verify_checksums, options.fill_cache};
}

}  // namespace

class DBImpl::SnapshotImpl final : public Snapshot {
 public:
  SnapshotImpl(SequenceNumber sequence, std::shared_ptr<SnapshotList> list)
      : Snapshot(sequence), list_(std::move(list)) {
    std::lock_guard lock(list_->mu);
    position_ = list_->live.insert(sequence);
  }
  ~SnapshotImpl() override {
    std::lock_guard lock(list_->mu);
    list_->live.erase(position_);
  }

 private:
  std::shared_ptr<SnapshotList> list_;
  std::multiset<SequenceNumber>::iterator position_;
};

std::shared_ptr<const Snapshot> DBImpl::snapshot() {
  // Under mu_: a compaction computing its floor either sees this snapshot or ran before it.
  std::lock_guard lock(mu_);
  return std::make_shared<SnapshotImpl>(latest_sequence(), snapshots_);
}

SequenceNumber DBImpl::latest_sequence() const {
  return last_sequence_.load(std::memory_order_acquire);
}

SequenceNumber DBImpl::history_floor() const {
  std::lock_guard lock(mu_);
  return history_floor_locked();
}

SequenceNumber DBImpl::history_floor_locked() const {
  SequenceNumber floor = latest_sequence();
  if (history_floor_) floor = std::min(floor, *history_floor_);
  std::lock_guard lock(snapshots_->mu);
  if (!snapshots_->live.empty()) floor = std::min(floor, *snapshots_->live.begin());
  return floor;
}

Status DBImpl::set_history_floor(SequenceNumber floor) {
  std::lock_guard lock(mu_);
  if (history_floor_ && floor < *history_floor_) {
    return Status::invalid_argument("history floor moves forward only: " +
                                    std::to_string(floor) + " < " +
                                    std::to_string(*history_floor_));
  }
  if (floor < compaction_floor_) {
    return Status::invalid_argument("history below " + std::to_string(compaction_floor_) +
                                    " may already be compacted away");
  }
  history_floor_ = floor;
  return {};
}

Result<SequenceNumber> DBImpl::read_sequence_locked(const ReadOptions& options) const {
  if (options.snapshot) return options.snapshot->sequence();
  SequenceNumber latest = latest_sequence();
  if (!options.sequence) return latest;
  SequenceNumber wanted = *options.sequence;
  if (wanted > latest) {
    return Status::invalid_argument("read at sequence " + std::to_string(wanted) +
                                    " is past the latest, " + std::to_string(latest));
  }
  SequenceNumber floor = history_floor_locked();
  if (wanted < floor) {
    return Status::invalid_argument("read at sequence " + std::to_string(wanted) +
                                    " is below the history floor, " + std::to_string(floor));
  }
  return wanted;
}

Result<DBImpl::ReadView> DBImpl::read_view(const ReadOptions& options) const {
  // Sequence and state together: a compaction installed in between could otherwise have
  // dropped versions the sequence needs (its floor is at most any sequence taken after it).
  std::lock_guard lock(mu_);
  if (closed_) return Status::invalid_argument(path_ + ": the database is closed");
  Result<SequenceNumber> sequence = read_sequence_locked(options);
  if (!sequence.ok()) return sequence.status();
  return ReadView{sequence.value(), read_state_};
}

Status DBImpl::get(const ReadOptions& options, std::string_view key, std::string* value) {
  Result<ReadView> view = read_view(options);
  if (!view.ok()) return view.status();
  const ReadState* state = view.value().state.get();
  Result<SequenceNumber> sequence = view.value().sequence;
  LookupKey lookup(key, sequence.value());
  // Sources newest first: the newest point entry found decides, unless a range tombstone
  // seen so far (in it or a newer source) is newer still.
  SequenceNumber tombstone = 0;
  auto decide = [&](const LookupResult& r) {
    if (r.kind == LookupResult::Kind::kValue && tombstone <= r.sequence) return Status();
    return Status::not_found("");
  };
  auto search_memtable = [&](const MemTable& mem) -> std::optional<Status> {
    tombstone = std::max(tombstone, mem.covering_tombstone(key, sequence.value()));
    LookupResult r = mem.get(lookup, value);
    if (r.kind == LookupResult::Kind::kNotFound) return std::nullopt;
    return decide(r);
  };
  if (auto s = search_memtable(*state->mem)) return *s;
  for (const auto& mem : state->immutables) {
    if (auto s = search_memtable(*mem)) return *s;
  }
  auto search_table = [&](const Table& table) -> std::optional<Status> {
    tombstone = std::max(tombstone, table.covering_tombstone(key, sequence.value()));
    Result<LookupResult> r = table.get(lookup, block_options(options), value);
    if (!r.ok()) return r.status();
    if (r.value().kind == LookupResult::Kind::kNotFound) return std::nullopt;
    return decide(r.value());
  };
  for (const auto& table : state->level0) {
    if (auto s = search_table(*table)) return *s;
  }
  // Deeper levels are disjoint: one file per level can hold the key (and the tombstones
  // covering it), and shallower levels hold the newer versions.
  for (const auto& level : state->deeper) {
    if (const LiveTable* file = find_level_file(level, key)) {
      if (auto s = search_table(*file->table)) return *s;
    }
  }
  return Status::not_found("");
}

namespace {

// Keeps a read's memtables and tables alive and counts the iterator as live until destroyed.
struct IteratorPin {
  std::shared_ptr<const void> state;
  std::shared_ptr<std::atomic<int64_t>> live;
  IteratorPin(std::shared_ptr<const void> s, std::shared_ptr<std::atomic<int64_t>> l)
      : state(std::move(s)), live(std::move(l)) {
    live->fetch_add(1);
  }
  IteratorPin(const IteratorPin&) = delete;
  IteratorPin& operator=(const IteratorPin&) = delete;
  ~IteratorPin() { live->fetch_sub(1); }
};

void collect_tombstones(InternalIterator& it, SequenceNumber sequence, RangeTombstoneSet* set) {
  for (it.seek_to_first(); it.valid(); it.next()) {
    ParsedInternalKey k;
    if (parse_internal_key(it.key(), &k) && k.sequence <= sequence && k.user_key < it.value()) {
      set->add(k.user_key, it.value(), k.sequence);
    }
  }
}

}  // namespace

std::unique_ptr<Iterator> DBImpl::new_iterator(const ReadOptions& options) {
  Result<ReadView> view = read_view(options);
  if (!view.ok()) return new_error_iterator(view.status());
  std::shared_ptr<const ReadState> state = view.value().state;
  Result<SequenceNumber> sequence = view.value().sequence;
  std::vector<std::unique_ptr<InternalIterator>> children;
  children.reserve(1 + state->immutables.size() + state->level0.size() + state->deeper.size());
  RangeTombstoneSet tombstones;
  auto add_memtable = [&](const MemTable& mem) {
    children.push_back(mem.new_iterator());
    if (mem.range_tombstone_count() > 0) {
      collect_tombstones(*mem.new_range_tombstone_iterator(), sequence.value(), &tombstones);
    }
  };
  add_memtable(*state->mem);
  for (const auto& mem : state->immutables) add_memtable(*mem);
  auto add_tombstones = [&](const Table& table) {
    if (table.range_tombstone_count() > 0) {
      collect_tombstones(*table.new_range_tombstone_iterator(), sequence.value(), &tombstones);
    }
  };
  for (const auto& table : state->level0) {
    children.push_back(table->new_iterator(block_options(options)));
    add_tombstones(*table);
  }
  for (const auto& level : state->deeper) {
    if (level.empty()) continue;  // nothing to merge: no iterator to make and seek
    for (const LiveTable& file : level) add_tombstones(*file.table);
    children.push_back(new_level_iterator(state, &level, block_options(options)));
  }
  tombstones.finish();
  auto pin = std::make_shared<IteratorPin>(state, live_iterators_);
  return new_db_iterator(new_merging_iterator(std::move(children)), std::move(tombstones),
                         sequence.value(), options.lower_bound, options.upper_bound,
                         std::move(pin));
}

}  // namespace weaseldb::storage
