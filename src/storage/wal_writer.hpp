#pragma once
// WalWriter: appends logical records to a WAL file in the format of wal_format.hpp.
//
// Contract
// - add_record() appends one record (any size, also empty) as one or more fragments; it only
//   buffers in the file: flush() hands the bytes to the OS, sync() makes them durable.
// - After a failed call the file's tail is unknown: the caller must stop using this writer
//   (the DB then refuses writes) rather than append after a gap.
//
// Ownership: borrows the file, which must outlive the writer. Single-threaded.

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/file.hpp"
#include "storage/wal_format.hpp"

namespace weaseldb::storage {

class WalWriter {
 public:
  // `file_offset` is the size of the file when it already holds records (0 for a new file).
  explicit WalWriter(WritableFile* file, uint64_t file_offset = 0);

  Status add_record(std::string_view record);
  // The record head + tail: built in place in the file when the file offers room
  // (WritableFile::reserve()) and it fits in the current block, else copied and appended.
  Status add_record(std::string_view head, std::string_view tail);
  Status flush() { return file_->flush(); }
  Status sync() { return file_->sync(); }
  uint64_t file_bytes() const { return file_->size(); }

 private:
  Status emit_fragment(wal::RecordType type, std::string_view payload);

  WritableFile* file_;
  size_t block_offset_;
  std::string scratch_;  // a two-part record that could not be built in place
};

}  // namespace weaseldb::storage
