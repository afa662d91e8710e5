#include "weasel_sst/sst_dump.hpp"

#include <fmt/format.h>

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "storage/block.hpp"
#include "storage/cipher.hpp"
#include "storage/file.hpp"
#include "storage/internal_key.hpp"
#include "storage/manifest.hpp"
#include "storage/table_format.hpp"

namespace weaseldb::tools {

namespace {

using storage::Status;
using storage::StatusCode;

constexpr size_t kValuePreviewBytes = 64;

constexpr const char* kUsage =
    "usage: weasel_sst [--verify] [--key-hex] [--key-file FILE] TABLE.sst\n"
    "       weasel_sst [--key-hex] [--key-file FILE] DIR | DIR/MANIFEST\n"
    "Prints an SSTable (footer, properties, index, entries, range tombstones) or a\n"
    "manifest (file set per level). --verify only checks every block's checksum.\n"
    "Exit codes: 0 ok, 1 unreadable or corrupt input, 2 usage error.\n";

struct Args {
  bool verify = false;
  bool key_hex = false;
  bool help = false;
  std::string key_file;
  std::string path;
};

std::optional<std::string> parse_args(std::span<const std::string_view> args, Args* out) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a == "--help" || a == "-h") {
      out->help = true;
    } else if (a == "--verify") {
      out->verify = true;
    } else if (a == "--key-hex") {
      out->key_hex = true;
    } else if (a == "--key-file") {
      if (i + 1 == args.size()) return "--key-file needs a file";
      out->key_file = std::string(args[++i]);
    } else if (a.starts_with("-")) {
      return fmt::format("unknown option '{}'", a);
    } else if (!out->path.empty()) {
      return fmt::format("one input only ('{}' and '{}')", out->path, a);
    } else {
      out->path = std::string(a);
    }
  }
  if (!out->help && out->path.empty()) return "no input given";
  return std::nullopt;
}

std::string escape(std::string_view bytes, bool hex) {
  std::string out;
  for (char c : bytes) {
    auto u = static_cast<unsigned char>(c);
    if (hex) {
      out += fmt::format("{:02x}", u);
    } else if (u >= 0x20 && u < 0x7f && c != '\\' && c != '\'') {
      out += c;
    } else {
      out += fmt::format("\\x{:02x}", u);
    }
  }
  return out;
}

std::string value_preview(std::string_view value) {
  if (value.size() <= kValuePreviewBytes) return fmt::format("'{}'", escape(value, false));
  return fmt::format("'{}'... ({} bytes)", escape(value.substr(0, kValuePreviewBytes), false),
                     value.size());
}

const char* type_name(storage::ValueType type) {
  switch (type) {
    case storage::ValueType::kDeletion: return "deletion";
    case storage::ValueType::kValue: return "value";
    case storage::ValueType::kRangeDeletion: return "range_deletion";
  }
  return "unknown";
}

std::string describe_key(std::string_view ikey, bool hex) {
  storage::ParsedInternalKey k;
  if (!storage::parse_internal_key(ikey, &k)) {
    return fmt::format("<bad internal key '{}'>", escape(ikey, true));
  }
  return fmt::format("'{}' seq={} type={}", escape(k.user_key, hex), k.sequence,
                     type_name(k.type));
}

const char* compression_name(uint8_t c) {
  static constexpr std::array<const char*, 4> kNames = {"none", "lz4", "zstd", "snappy"};
  return c < kNames.size() ? kNames[c] : "unknown";
}

Status load_cipher(const std::string& key_file, std::unique_ptr<storage::Cipher>* cipher) {
  if (key_file.empty()) return {};
  auto loaded = storage::Cipher::from_key_file(key_file);
  if (!loaded.ok()) return loaded.status();
  *cipher = std::move(loaded).value();
  return {};
}

// Reads, checks and parses the block at `handle`.
storage::Result<std::shared_ptr<const storage::Block>> load_block(
    const storage::BlockSource& source, const storage::BlockHandle& handle, const char* what) {
  auto bytes = storage::read_block(source, handle, true);
  if (!bytes.ok()) return bytes.status();
  auto block = storage::Block::parse(std::move(bytes).value());
  if (!block.ok()) {
    return Status::corruption(fmt::format("{}: {} block at offset {}: {}", source.file_name,
                                          what, handle.offset, block.status().message()));
  }
  return block;
}

class TableDump {
 public:
  TableDump(const Args& args, std::FILE* out) : args_(args), out_(out) {}

  Status run() {
    auto file = storage::open_random_access_file(args_.path);
    if (!file.ok()) return file.status();
    file_ = std::move(file).value();
    std::string name = args_.path.substr(args_.path.rfind('/') + 1);
    uint64_t number = 0;
    (void)storage::parse_file_name(name, &number);
    Status s = load_cipher(args_.key_file, &cipher_);
    if (!s.ok()) return s;
    s = read_footer();
    if (!s.ok()) return s;
    if ((footer_.flags & storage::kTableFlagEncrypted) != 0 && cipher_ == nullptr) {
      return Status::invalid_argument(args_.path + ": encrypted table: pass --key-file");
    }
    source_ = {file_.get(), args_.path, number, cipher_.get()};
    if (!args_.verify) print_footer();
    s = walk_data();
    if (s.ok()) s = walk_meta();
    if (!s.ok()) return s;
    if (args_.verify) {
      fmt::print(out_, "OK {}: {} data blocks, {} entries, every checksum verified\n",
                 args_.path, data_blocks_, entries_);
    } else {
      print_properties();
    }
    return {};
  }

 private:
  Status read_footer() {
    uint64_t size = file_->size();
    if (size < storage::Footer::kEncodedBytes) {
      return Status::corruption(fmt::format("{}: too short to be a table ({} bytes)",
                                            args_.path, size));
    }
    std::string scratch(storage::Footer::kEncodedBytes, '\0');
    auto bytes = file_->read(size - scratch.size(), scratch.size(), scratch.data());
    if (!bytes.ok()) return bytes.status();
    auto footer = storage::Footer::decode(bytes.value());
    if (!footer.ok()) {
      return Status::corruption(fmt::format("{}: footer: {}", args_.path,
                                            footer.status().message()));
    }
    footer_ = footer.value();
    return {};
  }

  void print_footer() {
    auto handle = [](const storage::BlockHandle& h) {
      return h.size == 0 ? std::string("none") : fmt::format("@{}+{}", h.offset, h.size);
    };
    fmt::print(out_, "table {} ({} bytes)\n", args_.path, file_->size());
    fmt::print(out_, "footer: format_version={} flags={}{} index={} filter={} range_del={}\n",
               footer_.format_version, footer_.flags,
               (footer_.flags & storage::kTableFlagEncrypted) != 0 ? " (encrypted)" : "",
               handle(footer_.index), handle(footer_.filter), handle(footer_.range_del));
  }

  // The index, and each data block it points to with its entries.
  Status walk_data() {
    auto index = load_block(source_, footer_.index, "index");
    if (!index.ok()) return index.status();
    if (!args_.verify) fmt::print(out_, "index:\n");
    auto it = index.value()->new_iterator();
    for (it->seek_to_first(); it->valid(); it->next()) {
      std::string_view encoded = it->value();
      storage::BlockHandle handle;
      if (!handle.decode_from(&encoded) || !encoded.empty()) {
        return Status::corruption(args_.path + ": bad block handle in the index");
      }
      if (!args_.verify) {
        fmt::print(out_, "  [{}] {} -> @{}+{}\n", data_blocks_,
                   describe_key(it->key(), args_.key_hex), handle.offset, handle.size);
      }
      handles_.push_back(handle);
      ++data_blocks_;
    }
    if (!it->status().ok()) return Status::corruption(args_.path + ": index: " + it->status().message());
    for (size_t i = 0; i < handles_.size(); ++i) {
      Status s = walk_block(i, handles_[i]);
      if (!s.ok()) return s;
    }
    return {};
  }

  Status walk_block(size_t i, const storage::BlockHandle& handle) {
    char type = 0;
    auto trailer = file_->read(handle.offset + handle.size, 1, &type);
    if (!trailer.ok()) return trailer.status();
    auto compression = static_cast<uint8_t>(trailer.value()[0]);
    ++blocks_by_compression_[compression_name(compression)];
    auto block = load_block(source_, handle, "data");
    if (!block.ok()) return block.status();
    if (!args_.verify) {
      fmt::print(out_, "data block {} @{}+{} compression={} uncompressed={} restarts={}:\n", i,
                 handle.offset, handle.size, compression_name(compression),
                 block.value()->size(), block.value()->restart_count());
    }
    auto it = block.value()->new_iterator();
    for (it->seek_to_first(); it->valid(); it->next()) {
      storage::ParsedInternalKey k;
      if (!storage::parse_internal_key(it->key(), &k)) {
        return Status::corruption(fmt::format("{}: data block at offset {}: bad internal key",
                                              args_.path, handle.offset));
      }
      note_key(it->key(), k);
      key_bytes_ += k.user_key.size();
      value_bytes_ += it->value().size();
      if (!args_.verify) {
        fmt::print(out_, "  {}", describe_key(it->key(), args_.key_hex));
        if (k.type == storage::ValueType::kValue) fmt::print(out_, " -> {}", value_preview(it->value()));
        fmt::print(out_, "\n");
      }
    }
    if (!it->status().ok()) {
      return Status::corruption(fmt::format("{}: data block at offset {}: {}", args_.path,
                                            handle.offset, it->status().message()));
    }
    return {};
  }

  void note_key(std::string_view ikey, const storage::ParsedInternalKey& k) {
    ++entries_;
    ++entries_by_type_[type_name(k.type)];
    if (smallest_.empty()) smallest_ = std::string(ikey);
    largest_ = std::string(ikey);
  }

  // The filter and the range tombstones.
  Status walk_meta() {
    if (footer_.filter.size > 0) {
      auto filter = storage::read_block(source_, footer_.filter, true);
      if (!filter.ok()) return filter.status();
      filter_bytes_ = filter.value().size();
    }
    if (footer_.range_del.size == 0) return {};
    auto block = load_block(source_, footer_.range_del, "range tombstone");
    if (!block.ok()) return block.status();
    if (!args_.verify) fmt::print(out_, "range tombstones:\n");
    auto it = block.value()->new_iterator();
    for (it->seek_to_first(); it->valid(); it->next()) {
      storage::ParsedInternalKey k;
      if (!storage::parse_internal_key(it->key(), &k) ||
          k.type != storage::ValueType::kRangeDeletion) {
        return Status::corruption(args_.path + ": bad range tombstone");
      }
      ++range_tombstones_;
      if (!args_.verify) {
        fmt::print(out_, "  ['{}', '{}') seq={}\n", escape(k.user_key, args_.key_hex),
                   escape(it->value(), args_.key_hex), k.sequence);
      }
    }
    if (!it->status().ok()) return Status::corruption(args_.path + ": range tombstones: " + it->status().message());
    return {};
  }

  void print_properties() {
    fmt::print(out_, "properties:\n");
    fmt::print(out_, "  data_blocks: {}\n", data_blocks_);
    for (const auto& [name, count] : blocks_by_compression_) {
      fmt::print(out_, "  blocks_{}: {}\n", name, count);
    }
    fmt::print(out_, "  entries: {}\n", entries_);
    for (const auto& [name, count] : entries_by_type_) {
      fmt::print(out_, "  entries_{}: {}\n", name, count);
    }
    fmt::print(out_, "  range_tombstones: {}\n", range_tombstones_);
    fmt::print(out_, "  user_key_bytes: {}\n  value_bytes: {}\n", key_bytes_, value_bytes_);
    fmt::print(out_, "  filter_bytes: {}\n", filter_bytes_);
    if (entries_ > 0) {
      fmt::print(out_, "  smallest: {}\n  largest: {}\n", describe_key(smallest_, args_.key_hex),
                 describe_key(largest_, args_.key_hex));
    }
  }

  const Args& args_;
  std::FILE* out_;
  std::unique_ptr<storage::RandomAccessFile> file_;
  std::unique_ptr<storage::Cipher> cipher_;
  storage::Footer footer_;
  storage::BlockSource source_{};
  std::vector<storage::BlockHandle> handles_;
  uint64_t data_blocks_ = 0;
  uint64_t entries_ = 0;
  uint64_t range_tombstones_ = 0;
  uint64_t key_bytes_ = 0;
  uint64_t value_bytes_ = 0;
  uint64_t filter_bytes_ = 0;
  std::map<std::string, uint64_t> blocks_by_compression_;
  std::map<std::string, uint64_t> entries_by_type_;
  std::string smallest_;
  std::string largest_;
};

Status dump_manifest(const Args& args, const std::string& dir, std::FILE* out) {
  std::unique_ptr<storage::Cipher> cipher;
  Status s = load_cipher(args.key_file, &cipher);
  if (!s.ok()) return s;
  auto state = storage::read_manifest(*storage::posix_file_system(), dir, cipher.get());
  if (!state.ok()) return state.status();
  const storage::ManifestState& m = state.value();
  fmt::print(out, "manifest {}\n", storage::manifest_path(dir));
  fmt::print(out, "next_file_number: {}\nlast_sequence: {}\nlog_number: {}\n",
             m.next_file_number, m.last_sequence, m.log_number);
  fmt::print(out, "compaction_floor: {}\ntables: {}\n", m.compaction_floor, m.tables.size());
  std::map<uint32_t, std::vector<const storage::TableMeta*>> levels;
  for (const storage::TableMeta& t : m.tables) levels[t.level].push_back(&t);
  for (const auto& [level, tables] : levels) {
    uint64_t bytes = 0;
    for (const storage::TableMeta* t : tables) bytes += t->bytes;
    fmt::print(out, "level {}: {} files, {} bytes\n", level, tables.size(), bytes);
    for (const storage::TableMeta* t : tables) {
      fmt::print(out, "  {} {} bytes [{} .. {}]\n", storage::table_name(t->number), t->bytes,
                 describe_key(t->smallest, args.key_hex), describe_key(t->largest, args.key_hex));
    }
  }
  return {};
}

}  // namespace

int run_weasel_sst(std::span<const std::string_view> argv, std::FILE* out, std::FILE* err) {
  Args args;
  if (std::optional<std::string> error = parse_args(argv, &args)) {
    fmt::print(err, "weasel_sst: {}\n{}", *error, kUsage);
    return 2;
  }
  if (args.help) {
    fmt::print(out, "{}", kUsage);
    return 0;
  }
  Status s;
  auto is_dir = storage::list_dir(args.path);
  std::string name = args.path.substr(args.path.rfind('/') + 1);
  if (is_dir.ok()) {
    s = dump_manifest(args, args.path, out);
  } else if (name == "MANIFEST") {
    size_t slash = args.path.rfind('/');
    s = dump_manifest(args, slash == std::string::npos ? "." : args.path.substr(0, slash), out);
  } else {
    s = TableDump(args, out).run();
  }
  if (!s.ok()) {
    std::fflush(out);
    fmt::print(err, "weasel_sst: {}\n", s.to_string());
    return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

}  // namespace weaseldb::tools
