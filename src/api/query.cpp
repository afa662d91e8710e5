#include "api/query.hpp"

#include <cstring>

namespace weasel {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `in` into the arena; '+' is a space (form encoding).
std::optional<std::string_view> decode(std::string_view in, Arena& arena) {
  if (in.find_first_of("%+") == std::string_view::npos) return in;  // views into the request
  char* out = static_cast<char*>(arena.allocate(in.size() + 1, 1));
  size_t n = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out[n++] = ' ';
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) return std::nullopt;  // "%" or "%X" at the end
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out[n++] = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out[n++] = in[i];
    }
  }
  return std::string_view(out, n);
}

}  // namespace

std::optional<size_t> parse_query(std::string_view query, std::span<const std::string_view> allowed,
                                  Arena& arena, std::span<QueryParam> out, std::string& error) {
  size_t count = 0;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    const std::string_view raw_name = part.substr(0, eq);
    const std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    auto name = decode(raw_name, arena);
    auto value = decode(raw_value, arena);
    if (!name || !value) {
      error = "invalid percent-encoding in the query string";
      return std::nullopt;
    }
    bool known = false;
    for (std::string_view a : allowed) known |= a == *name;
    if (!known) {
      error = std::string(*name) + ": unknown query parameter";
      return std::nullopt;
    }
    for (size_t i = 0; i < count; ++i) {
      if (out[i].name == *name) {
        error = std::string(*name) + ": given more than once";
        return std::nullopt;
      }
    }
    if (count == out.size()) {
      error = "too many query parameters";
      return std::nullopt;
    }
    out[count++] = {*name, *value};
  }
  return count;
}

std::optional<std::string_view> find_param(std::span<const QueryParam> params,
                                           std::string_view name) {
  for (const QueryParam& p : params) {
    if (p.name == name) return p.value;
  }
  return std::nullopt;
}

std::optional<uint64_t> parse_version(std::string_view text) {
  if (text.empty() || text.size() > 16) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v >= (uint64_t{1} << 53)) return std::nullopt;
  return v;
}

}  // namespace weasel
