#pragma once
// WriteBatch: operations that DB::write() applies atomically, at one sequence number, in
// order (a later operation on the same key wins; a range delete removes what the batch wrote
// before it in the range, not what it writes after).
//
// Contract
// - put/del/delete_range only record; they are validated by DB::write() (a range needs
//   begin < end; keys and values have size limits, see db.hpp).
// - rep() is the serialized form, which is also the WAL record payload:
//     fixed64 sequence | fixed32 count | count x (type byte | varint32 len | key
//                                                 | [varint32 len | value or range end])
//   with type 0 = delete, 1 = put, 2 = delete_range. The sequence is stamped by DB::write().
// - iterate() walks the operations in order and returns corruption if the rep does not parse
//   (only possible for a batch made by set_rep() from untrusted bytes).
//
// Ownership: the batch owns its bytes; string_views handed to a Handler point into them and
// are valid until the batch is next modified or destroyed. Not thread-safe.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "weaseldb/options.hpp"
#include "weaseldb/status.hpp"

namespace weaseldb::storage {

class WriteBatch {
 public:
  static constexpr size_t kHeaderBytes = 12;

  WriteBatch();

  void put(std::string_view key, std::string_view value);
  void del(std::string_view key);
  // Removes every key in [begin, end).
  void delete_range(std::string_view begin, std::string_view end);
  void clear();

  uint32_t count() const;
  bool empty() const { return count() == 0; }
  // Serialized size: what the batch costs in the WAL.
  size_t byte_size() const { return rep_.size(); }

  class Handler {
   public:
    virtual ~Handler() = default;
    virtual void put(std::string_view key, std::string_view value) = 0;
    virtual void del(std::string_view key) = 0;
    virtual void delete_range(std::string_view begin, std::string_view end) = 0;
  };
  Status iterate(Handler& handler) const;

  SequenceNumber sequence() const;
  void set_sequence(SequenceNumber sequence);

  std::string_view rep() const { return rep_; }
  // Replaces the contents with serialized bytes (a WAL record); corruption if they are
  // shorter than the header or do not parse, in which case the batch is left empty.
  Status set_rep(std::string_view rep);

 private:
  std::string rep_;
};

}  // namespace weaseldb::storage
