#pragma once
// Status and Result<T> of the storage engine: the project's core types (src/core/status.hpp)
// under the engine's namespace, so that an embedding application and the rest of WeaselDB
// speak one error vocabulary and a reader passes engine errors on without translating them.
//
// Contract
// - The engine returns only these codes (SPEC section 5):
//     not_found          get() of an absent or deleted key; a missing database without
//                        create_if_missing
//     invalid_argument   bad options or arguments (a range with begin >= end, a sequence that
//                        does not move forward, a feature that is not available)
//     corruption         stored bytes that fail a checksum or do not parse
//     io_error           the operating system refused a file operation
//     resource_exhausted out of disk space or file descriptors
//     busy               the database is locked by another process, or still in use (close()
//                        with live iterators)
// - Messages name the file and offset (or the argument) concerned.
//
// Ownership: plain values (see src/core/status.hpp).

#include <cstdint>

#include "core/status.hpp"

namespace weaseldb::storage {

using Status = weasel::Status;
using StatusCode = weasel::StatusCode;
template <class T>
using Result = weasel::Result<T>;

}  // namespace weaseldb::storage
