#pragma once
// A WritableFile written through a shared memory mapping, for the WAL: append() is a memcpy
// into the file's page cache pages, with no system call, and the bytes are the kernel's (they
// survive a crash of the process) as soon as append() returns. A write() per WAL record
// cost ~0.85 us on the benchmark machine, more than inserting into the memtable.
//
// Contract (WritableFile's, with these specifics)
// - flush() has nothing to do; sync() makes every appended byte durable (fdatasync, which on
//   Linux covers pages written through the mapping).
// - The file grows in chunks of `chunk_bytes` reserved with fallocate, so that a full disk is
//   an error returned by append() (resource_exhausted), never a SIGBUS on a page fault;
//   the first chunk is mapped by open, so a filesystem without fallocate or mmap fails there
//   (the DB then falls back to a plain file).
// - close() cuts the file to the bytes appended. A crash leaves zeros after them up to the
//   chunk's end, which the WAL reader reads as a torn tail.
// - reserve() hands out room inside the mapped chunk (null when the bytes would cross into
//   the next chunk): a record written there is in the page cache, as with append().
// - Not thread-safe (one writer, like every WritableFile).
//
// Ownership: owns its descriptor and mapping; both are released by close() or destruction.

#include <cstddef>
#include <memory>
#include <string>

#include "storage/file.hpp"

namespace weaseldb::storage {

inline constexpr size_t kMappedFileChunkBytes = size_t{1} << 20;

// Creates (or truncates) `path`. chunk_bytes must be a multiple of the page size.
Result<std::unique_ptr<WritableFile>> open_mapped_writable_file(
    const std::string& path, size_t chunk_bytes = kMappedFileChunkBytes);

}  // namespace weaseldb::storage
