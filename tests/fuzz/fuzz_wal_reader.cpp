// libFuzzer target for the WAL reader (src/storage/wal_reader.hpp): replay must never crash,
// hang or read out of bounds on any file, and it must never return a record that was not
// written as such.
//
// The first input byte picks a mode:
//   0: the rest is a WAL file: replay it.
//   1: the rest makes records that a WalWriter writes; the log is then cut at a position the
//      input chooses: replay must return exactly the records that end before the cut, with
//      an ok status (a torn tail is not an error).
//   2: like 1, but one byte is damaged instead: replay must return exactly the records that
//      end before it, then stop with corruption or (last fragment only) a torn tail.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "storage/coding.hpp"
#include "storage/file.hpp"
#include "storage/wal_reader.hpp"
#include "storage/wal_writer.hpp"

namespace {

using namespace weaseldb::storage;

void require(bool condition) {
  if (!condition) std::abort();
}

struct Replayed {
  std::vector<std::string> records;
  Status status;
  bool torn = false;
};

Replayed replay(std::string_view bytes) {
  StringSequentialFile file(bytes);
  WalReader reader(&file, "fuzz.wal");
  Replayed out;
  std::string_view record;
  while (reader.read_record(&record)) out.records.emplace_back(record);
  require(!reader.read_record(&record));
  out.status = reader.status();
  out.torn = reader.torn_tail().has_value();
  require(out.status.ok() || out.status.code() == weasel::StatusCode::kCorruption);
  return out;
}

// Record i is (length byte * 131) bytes of the input, repeated as needed: big enough to
// cross 32 KiB blocks with few input bytes.
struct Written {
  std::string bytes;
  std::vector<std::string> records;
  std::vector<uint64_t> ends;
};

Written write(std::string_view input) {
  Written w;
  StringWritableFile file;
  WalWriter writer(&file);
  std::string_view pattern = input.empty() ? std::string_view("x") : input;
  for (size_t i = 0; i < input.size() && i < 16; ++i) {
    size_t length = static_cast<uint8_t>(input[i]) * size_t{131};
    std::string record;
    while (record.size() < length) record.append(pattern.substr(0, length - record.size()));
    require(writer.add_record(record).ok());
    w.records.push_back(std::move(record));
    w.ends.push_back(file.size());
  }
  w.bytes = file.contents();
  return w;
}

size_t ending_by(const Written& w, uint64_t offset) {
  size_t n = 0;
  while (n < w.ends.size() && w.ends[n] <= offset) ++n;
  return n;
}

void check_prefix(const Replayed& r, const Written& w, size_t expected) {
  require(r.records.size() == expected);
  for (size_t i = 0; i < expected; ++i) require(r.records[i] == w.records[i]);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 4, size - 4);
  uint32_t position = decode_fixed16(reinterpret_cast<const char*>(data) + 1) * 7u + data[3];
  switch (data[0] % 3) {
    case 0:
      replay(input);
      break;
    case 1: {
      Written w = write(input);
      uint64_t cut = position % (w.bytes.size() + 1);
      Replayed r = replay(std::string_view(w.bytes).substr(0, cut));
      require(r.status.ok());
      check_prefix(r, w, ending_by(w, cut));
      break;
    }
    default: {
      Written w = write(input);
      if (w.bytes.empty()) break;
      uint64_t at = position % w.bytes.size();
      uint8_t mask = data[3] == 0 ? 1 : data[3];
      w.bytes[at] = static_cast<char>(w.bytes[at] ^ mask);
      Replayed r = replay(w.bytes);
      check_prefix(r, w, ending_by(w, at));
      require(!r.status.ok() || r.torn);
      break;
    }
  }
  return 0;
}
