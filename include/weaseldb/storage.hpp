#pragma once
// weaseldb::storage, the WeaselDB storage engine as a library (SPEC section 5): include this
// one header. See db.hpp for the contract.

#include "weaseldb/db.hpp"          // IWYU pragma: export
#include "weaseldb/iterator.hpp"    // IWYU pragma: export
#include "weaseldb/options.hpp"     // IWYU pragma: export
#include "weaseldb/statistics.hpp"  // IWYU pragma: export
#include "weaseldb/status.hpp"      // IWYU pragma: export
#include "weaseldb/write_batch.hpp" // IWYU pragma: export
