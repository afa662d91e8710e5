// block_checksum() (table_format.hpp) in a file of its own: it calls libxxhash's runtime-
// dispatched XXH3, which this file can include without the XXH_INLINE_ALL of its neighbours.
//
// Why dispatch: the build targets baseline x86-64, so an inline XXH3 gets SSE2 only. A block is
// kilobytes, and the library's dispatcher hashes it with the widest vector unit the CPU has
// (AVX2 or AVX-512), several times fewer instructions per byte. XXH3 is one function whatever
// the vector width, so checksums are the same bits as before and every existing table
// still verifies.

#define XXH_DISPATCH_DISABLE_REPLACE
#include <xxh_x86dispatch.h>

#include "storage/table_format.hpp"

namespace weaseldb::storage {

uint64_t block_checksum(std::string_view stored, uint8_t compression) {
  return XXH3_64bits_withSeed_dispatch(stored.data(), stored.size(), compression);
}

}  // namespace weaseldb::storage
