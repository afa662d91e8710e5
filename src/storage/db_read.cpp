// DBImpl: reads (get, iterators) and snapshots.

#include "storage/db_impl.hpp"
#include "storage/db_iterator.hpp"
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
  return std::make_shared<SnapshotImpl>(latest_sequence(), snapshots_);
}

SequenceNumber DBImpl::latest_sequence() const {
  return last_sequence_.load(std::memory_order_acquire);
}

SequenceNumber DBImpl::history_floor() const {
  SequenceNumber floor = latest_sequence();
  {
    std::lock_guard lock(mu_);
    if (history_floor_) floor = std::min(floor, *history_floor_);
  }
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
  history_floor_ = floor;
  return {};
}

Result<SequenceNumber> DBImpl::read_sequence(const ReadOptions& options) const {
  if (options.snapshot) return options.snapshot->sequence();
  SequenceNumber latest = latest_sequence();
  if (!options.sequence) return latest;
  SequenceNumber wanted = *options.sequence;
  if (wanted > latest) {
    return Status::invalid_argument("read at sequence " + std::to_string(wanted) +
                                    " is past the latest, " + std::to_string(latest));
  }
  SequenceNumber floor = history_floor();
  if (wanted < floor) {
    return Status::invalid_argument("read at sequence " + std::to_string(wanted) +
                                    " is below the history floor, " + std::to_string(floor));
  }
  return wanted;
}

std::shared_ptr<const DBImpl::ReadState> DBImpl::read_state() const {
  std::lock_guard lock(mu_);
  return closed_ ? nullptr : read_state_;
}

Status DBImpl::get(const ReadOptions& options, std::string_view key, std::string* value) {
  Result<SequenceNumber> sequence = read_sequence(options);
  if (!sequence.ok()) return sequence.status();
  std::shared_ptr<const ReadState> state = read_state();
  if (state == nullptr) return Status::invalid_argument(path_ + ": the database is closed");
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
  for (const auto& table : state->tables) {
    tombstone = std::max(tombstone, table->covering_tombstone(key, sequence.value()));
    Result<LookupResult> r = table->get(lookup, block_options(options), value);
    if (!r.ok()) return r.status();
    if (r.value().kind != LookupResult::Kind::kNotFound) return decide(r.value());
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
  Result<SequenceNumber> sequence = read_sequence(options);
  if (!sequence.ok()) return new_error_iterator(sequence.status());
  std::shared_ptr<const ReadState> state = read_state();
  if (state == nullptr) {
    return new_error_iterator(Status::invalid_argument(path_ + ": the database is closed"));
  }
  std::vector<std::unique_ptr<InternalIterator>> children;
  RangeTombstoneSet tombstones;
  auto add_memtable = [&](const MemTable& mem) {
    children.push_back(mem.new_iterator());
    if (mem.range_tombstone_count() > 0) {
      collect_tombstones(*mem.new_range_tombstone_iterator(), sequence.value(), &tombstones);
    }
  };
  add_memtable(*state->mem);
  for (const auto& mem : state->immutables) add_memtable(*mem);
  for (const auto& table : state->tables) {
    children.push_back(table->new_iterator(block_options(options)));
    if (table->range_tombstone_count() > 0) {
      collect_tombstones(*table->new_range_tombstone_iterator(), sequence.value(), &tombstones);
    }
  }
  tombstones.finish();
  auto pin = std::make_shared<IteratorPin>(state, live_iterators_);
  return new_db_iterator(new_merging_iterator(std::move(children)), std::move(tombstones),
                         sequence.value(), options.lower_bound, options.upper_bound,
                         std::move(pin));
}

}  // namespace weaseldb::storage
