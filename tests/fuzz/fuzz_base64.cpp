// libFuzzer target for the strict base64 codec (src/core/base64.hpp).
// Properties: decoding never crashes or writes past base64_decoded_size_max; whenever it
// succeeds, encoding the result gives the input back (one canonical spelling); a failure
// names an offset within the input; encoding any bytes and decoding them round-trips.
//
// Run (libFuzzer adds new inputs to the first directory, so give it a scratch one):
//   ./scripts/build.sh fuzz fuzz_base64 && mkdir -p /tmp/fuzz_base64 &&
//   ./build/fuzz/fuzz_base64 /tmp/fuzz_base64 tests/fuzz/corpus/base64 -max_total_time=60

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "core/base64.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // Exactly sized, so that ASan reports any write past the documented bound.
  std::vector<char> decoded(weasel::base64_decoded_size_max(size));
  size_t error_offset = SIZE_MAX;
  const ptrdiff_t n = weasel::base64_decode(input, decoded.data(), &error_offset);
  if (n >= 0) {
    if (static_cast<size_t>(n) > decoded.size()) std::abort();
    std::string reencoded;
    weasel::base64_encode_append(reencoded,
                                 std::string_view(decoded.data(), static_cast<size_t>(n)));
    if (reencoded != input) std::abort();
  } else if (error_offset > size) {
    std::abort();
  }

  std::string encoded(weasel::base64_encoded_size(size), '\0');
  weasel::base64_encode(input, encoded.data());
  std::vector<char> round_trip(weasel::base64_decoded_size_max(encoded.size()));
  const ptrdiff_t m = weasel::base64_decode(encoded, round_trip.data());
  if (m != static_cast<ptrdiff_t>(size)) std::abort();
  if (size > 0 && std::memcmp(round_trip.data(), data, size) != 0) std::abort();
  return 0;
}
