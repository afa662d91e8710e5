// Unit tests for cset::ArtTree (src/commit/conflict_set_art.hpp), the radix tree behind
// ConflictSet: node growth and shrinking across the four layouts, prefix splits and merges,
// keys that are prefixes of each other, the empty key, long (out-of-line) prefixes, memory
// given back by collect(), collection slices stopping and resuming inside every layout,
// versions stored relative to a base (clamping at the floor, rebases, jumps past 2^32), and a
// randomized comparison with a std::map of boundary entries.
// test_conflict_set.cpp covers the same tree through ConflictSet's semantics.

#include "commit/conflict_set_art.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace weasel::cset {
namespace {

// The tree's model, trivially: boundary entries key -> (point, range).
struct Model {
  std::map<std::string, std::pair<uint64_t, uint64_t>, std::less<>> entries;

  uint64_t version_at(std::string_view k) const {
    auto it = entries.upper_bound(k);
    if (it == entries.begin()) return 0;
    --it;
    return it->first == k ? it->second.first : it->second.second;
  }
  void write_point(const std::string& k, uint64_t v) {
    auto it = entries.find(k);
    if (it != entries.end()) {
      it->second.first = v;
    } else {
      uint64_t before = version_at(k);
      entries[k] = {v, before};
    }
  }
  void write_range(const std::string& b, const std::optional<std::string>& e, uint64_t v) {
    if (e && !entries.count(*e)) {
      uint64_t c = version_at(*e);
      entries[*e] = {c, c};
    }
    auto first = entries.upper_bound(b);
    auto last = e ? entries.lower_bound(*e) : entries.end();
    entries.erase(first, last);
    entries[b] = {v, v};
  }
  bool any_above(const std::string& b, const std::optional<std::string>& e, uint64_t v) const {
    for (auto it = entries.upper_bound(b); it != entries.end() && (!e || it->first < *e); ++it) {
      if (it->second.first > v) return true;
    }
    return false;
  }
};

std::string key_of(std::string_view prefix, int byte) {
  std::string k(prefix);
  k.push_back(static_cast<char>(byte));
  return k;
}

struct Counts {
  size_t n[7];  // Node0, 4, 16, 32, 48, 256, inline leaves
};

Counts counts(const ArtTree& t) {
  Counts c{};
  t.node_counts(c.n);
  return c;
}

TEST_CASE("art: a node grows 4 -> 16 -> 32 -> 48 -> 256 and shrinks back") {
  ArtTree tree(false, 0);
  uint64_t v = 0;
  auto count_of = [&](art::Type type) { return counts(tree).n[static_cast<int>(type)]; };
  for (int b = 0; b < 256; ++b) {
    tree.write_point(key_of("k", b), ++v);
    int children = b + 1;
    tree.check_invariants();
    // One key is a root Node0; from two on, the leaves have no bytes left: inline.
    if (children == 1) CHECK(tree.height() == 1);
    if (children == 1) CHECK(count_of(art::Type::k0) == 1);
    if (children > 1) CHECK(counts(tree).n[6] == static_cast<size_t>(children));
    if (children >= 2 && children <= 4) CHECK(count_of(art::Type::k4) == 1);
    if (children >= 5 && children <= 16) CHECK(count_of(art::Type::k16) == 1);
    if (children >= 17 && children <= 32) CHECK(count_of(art::Type::k32) == 1);
    if (children >= 33 && children <= 48) CHECK(count_of(art::Type::k48) == 1);
    if (children >= 49) CHECK(count_of(art::Type::k256) == 1);
  }
  CHECK(tree.height() == 2);
  for (int b = 0; b < 256; ++b) CHECK(tree.version_at(key_of("k", b)) == uint64_t(b + 1));
  // [k\0, k\m) erases the children strictly between: 256 - (m - 1) remain.
  struct Step {
    int m;
    art::Type type;
  };
  // Shrinking waits for well below the smaller capacity (256 -> 48 at 24 children, 48 -> 32
  // at 16, 32 -> 16 at 8, 16 -> 4 at 2), so that a node near a boundary does not flip back
  // and forth; a removal of many children at once goes down several layouts (249: 48 -> 16).
  for (Step s : {Step{200, art::Type::k256}, Step{217, art::Type::k256}, Step{234, art::Type::k48},
                 Step{238, art::Type::k48}, Step{243, art::Type::k32}, Step{249, art::Type::k16},
                 Step{255, art::Type::k4}}) {
    tree.write_range(key_of("k", 0), key_of("k", s.m), ++v);
    tree.check_invariants();
    CHECK(count_of(s.type) == 1);
    CHECK(tree.entry_count() == static_cast<size_t>(256 - (s.m - 1)));
    CHECK(tree.version_at(key_of("k", 0)) == v);
    CHECK(tree.version_at(key_of("k", 1)) == v);
    CHECK(tree.version_at(key_of("k", s.m)) == uint64_t(s.m + 1));
    CHECK(tree.version_at(key_of("k", 255)) == 256);
  }
  // Down to one child: the root merges into it.
  tree.write_range(key_of("k", 0), std::nullopt, ++v);
  tree.check_invariants();
  CHECK(tree.entry_count() == 1);
  CHECK(tree.height() == 1);
  CHECK(count_of(art::Type::k4) == 0);
  CHECK(tree.version_at("k") == 0);
  CHECK(tree.version_at("kz") == v);
}

TEST_CASE("art: Node32s only once the tree holds node32_from_entries entries") {
  ArtTree tree(false, 20);
  uint64_t v = 0;
  auto count_of = [&](art::Type type) { return counts(tree).n[static_cast<int>(type)]; };
  // "a" + 17 bytes: a full Node16 in a tree of 16 entries grows into a Node48.
  for (int b = 0; b < 17; ++b) tree.write_point(key_of("a", b), ++v);
  CHECK(count_of(art::Type::k48) == 1);
  CHECK(count_of(art::Type::k32) == 0);
  // "b" + 17 bytes, in a tree of 33 entries (>= 20): into a Node32; the Node48 stays.
  for (int b = 0; b < 17; ++b) tree.write_point(key_of("b", b), ++v);
  tree.check_invariants();
  CHECK(count_of(art::Type::k48) == 1);
  CHECK(count_of(art::Type::k32) == 1);
  for (int b = 0; b < 17; ++b) {
    CHECK(tree.version_at(key_of("a", b)) == uint64_t(b + 1));
    CHECK(tree.version_at(key_of("b", b)) == uint64_t(b + 18));
  }
}

TEST_CASE("art: prefix splits, prefixes of each other and the empty key") {
  ArtTree tree(false, 0);
  Model model;
  std::vector<std::string> keys = {
      "abcdefgh",           "abcdXYZ",           "abc", "ab", "abcdefghij", "", "a", "b", "abcdefg",
      std::string(3, '\0'), std::string(1, '\0')};
  uint64_t v = 0;
  for (const std::string& k : keys) {
    tree.write_point(k, ++v);
    model.write_point(k, v);
    tree.check_invariants();
    for (const std::string& probe : keys) {
      for (std::string p : {probe, probe + '\0', probe + "zz", probe.substr(0, probe.size() / 2)}) {
        CHECK(tree.version_at(p) == model.version_at(p));
      }
    }
  }
  CHECK(tree.version_at("") == model.version_at(""));
  tree.write_range("", "abcd", ++v);  // erases \0, \0\0\0, a, ab, abc
  model.write_range("", std::string("abcd"), v);
  tree.check_invariants();
  CHECK(tree.entry_count() == model.entries.size());
  for (const std::string& probe : keys) CHECK(tree.version_at(probe) == model.version_at(probe));
  // Strictly inside: "" itself (at v) does not count, the entries from "abcd" on do.
  CHECK(!tree.any_above("", std::string("abcd"), 0));
  CHECK(tree.any_above("", std::string("b"), 0));
  CHECK(!tree.any_above("", std::string("b"), v - 1));
  for (uint64_t rv = 0; rv <= v; ++rv) {
    CHECK(tree.any_above("a", std::string("abcdefgh"), rv) ==
          model.any_above("a", std::string("abcdefgh"), rv));
    CHECK(tree.any_above("abcd", std::nullopt, rv) == model.any_above("abcd", std::nullopt, rv));
  }
}

TEST_CASE("art: long keys keep out-of-line prefixes through splits and merges") {
  ArtTree tree(false, 0);
  Model model;
  std::string base(300, 'x');
  uint64_t v = 0;
  std::vector<std::string> keys;
  for (size_t cut : {299, 250, 100, 41, 40, 39, 10, 0}) {
    std::string k = base.substr(0, cut) + "y" + base.substr(cut);
    keys.push_back(k);
    tree.write_point(k, ++v);
    model.write_point(k, v);
    tree.check_invariants();
  }
  keys.push_back(base);
  tree.write_point(base, ++v);
  model.write_point(base, v);
  for (const std::string& k : keys) CHECK(tree.version_at(k) == model.version_at(k));
  // Erase every other key by range writes: nodes merge and prefixes are rebuilt.
  for (size_t i = 0; i + 2 < keys.size(); i += 3) {
    std::string a = std::min(keys[i], keys[i + 2]);
    std::string b = std::max(keys[i], keys[i + 2]);
    tree.write_range(a, b, ++v);
    model.write_range(a, b, v);
    tree.check_invariants();
  }
  for (const std::string& k : keys) {
    CHECK(tree.version_at(k) == model.version_at(k));
    CHECK(tree.version_at(k + "!") == model.version_at(k + "!"));
  }
  CHECK(tree.entry_count() == model.entries.size());
}

TEST_CASE("art: collect() empties the tree and gives the memory back") {
  ArtTree tree(false, 0);
  size_t empty_bytes = tree.memory_bytes();
  uint64_t v = 0;
  for (uint64_t i = 0; i < 200'000; ++i) {
    uint64_t x = i * 0x9e3779b97f4a7c15ULL;
    std::string k = "usertable/" + std::string(reinterpret_cast<const char*>(&x), 8);
    if (i % 7 == 0) k += std::string(50, 'L');  // some prefixes out of line
    tree.write_point(k, ++v);
  }
  tree.check_invariants();
  // Large enough for the grouped descent (small trees look keys up one by one): it agrees
  // with single lookups on present and absent keys.
  for (uint64_t i = 0; i < 2000; i += kGroup) {
    std::string keys[kGroup];
    std::string_view views[kGroup];
    uint64_t got[kGroup];
    for (int j = 0; j < kGroup; ++j) {
      uint64_t x = (i + static_cast<uint64_t>(j)) * 0x9e3779b97f4a7c15ULL;
      if (j % 3 == 0) x += 1;  // absent
      keys[j] = "usertable/" + std::string(reinterpret_cast<const char*>(&x), 8);
      if (j % 5 == 0) keys[j].resize(12);  // a prefix of stored keys
      views[j] = keys[j];
    }
    tree.versions_at(views, kGroup, got);
    for (int j = 0; j < kGroup; ++j) CHECK(got[j] == tree.version_at(views[j]));
  }
  size_t full_bytes = tree.memory_bytes();
  CHECK(full_bytes > empty_bytes + 10'000'000);
  size_t examined = 0;
  for (int i = 0; i < 1000 && tree.entry_count() > 0; ++i) {  // bounded-poll
    examined += tree.collect(v, 1000);
    if (i % 50 == 0) tree.check_invariants();
  }
  CHECK(tree.entry_count() == 0);
  CHECK(examined >= 200'000);
  tree.check_invariants();
  // One empty chunk per node layout and per key size class may stay for reuse.
  CHECK(tree.memory_bytes() <=
        empty_bytes + 6 * kHugeChunkBytes + KeyPool::kClasses * KeyPool::kChunkBytes + 4096);
}

struct Lcg {
  uint64_t state;
  uint64_t next() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  }
};

// Random point and range writes, each followed by a collection slice of 0-7 entries (so that
// slices stop and resume all over the tree), against the model: every answer for read
// versions >= oldest stays the same. Returns the most nodes of each layout seen at once.
// jump_every > 0: one write in about that many jumps 2^31 to 2^31 + 2^32 versions ahead (the
// floor following it, as ConflictSet's window does), so the tree rebases now and then, and
// the versions it stores relative to its base wrap past 32 bits.
template <class KeyFn>
Counts collect_against_model(Lcg& rng, KeyFn&& random_key, int ops, uint64_t jump_every = 0,
                             uint64_t* rebases = nullptr) {
  ArtTree tree(false, 0);
  Model model;
  Counts most{};
  uint64_t v = 0;
  for (int i = 0; i < ops; ++i) {
    std::string k = random_key();
    ++v;
    if (jump_every != 0 && rng.next() % jump_every == 0) {
      v += (uint64_t{1} << 31) + ((rng.next() << 3) & 0xffffffff);
      tree.set_floor(v - 200);
    }
    if (rng.next() % 4 == 0) {
      std::string e = random_key();
      if (k < e) {
        tree.write_range(k, e, v);
        model.write_range(k, e, v);
      }
    } else {
      tree.write_point(k, v);
      model.write_point(k, v);
    }
    uint64_t oldest = v > 200 ? v - 200 : 0;
    tree.collect(oldest, rng.next() % 8);
    if (i % 100 == 0) {
      tree.check_invariants();
      Counts now = counts(tree);
      for (int t = 0; t < 7; ++t) most.n[t] = std::max(most.n[t], now.n[t]);
    }
    for (int q = 0; q < 4; ++q) {
      std::string p = random_key();
      auto clamp = [&](uint64_t x) { return std::max(x, oldest); };
      CHECK(clamp(tree.version_at(p)) == clamp(model.version_at(p)));
      std::string e = random_key();
      uint64_t rv = oldest + rng.next() % 300;
      // As ConflictSet asks: a removed entry's version may live on in its predecessor's
      // range, which the version at the range's first key then shows.
      auto tree_hit = [&](std::optional<std::string> end) {
        return tree.version_at(p) > rv || tree.any_above(p, end, rv);
      };
      auto model_hit = [&](std::optional<std::string> end) {
        return model.version_at(p) > rv || model.any_above(p, end, rv);
      };
      if (p < e) CHECK(tree_hit(e) == model_hit(e));
      CHECK(tree_hit(std::nullopt) == model_hit(std::nullopt));
    }
  }
  tree.check_invariants();
  if (rebases != nullptr) *rebases = tree.rebases();
  return most;
}

TEST_CASE("art: collect() keeps every answer for versions >= oldest") {
  Lcg rng{7};
  // Short keys over a 4-letter alphabet: deep paths of Node4s, keys that are prefixes of
  // each other.
  collect_against_model(
      rng,
      [&] {
        std::string k;
        size_t len = rng.next() % 6;
        for (size_t i = 0; i < len; ++i) k.push_back("ab\0c"[rng.next() % 4]);
        return k;
      },
      3000);
}

TEST_CASE("art: versions jumping past 32 bits of the base keep every answer") {
  Lcg rng{5};
  uint64_t rebases = 0;
  collect_against_model(
      rng,
      [&] {
        std::string k = rng.next() % 2 ? "t/" : "";
        size_t len = rng.next() % 4;
        for (size_t i = 0; i < len; ++i) k.push_back(static_cast<char>(rng.next() % 7));
        return k;
      },
      20000, 40, &rebases);
  CHECK(rebases >= 100);  // a few hundred jumps, a third of them past 2^32 of the base
}

// The relative encoding step by step: a version at or below the floor reads back as the base
// (never above any version a caller may ask about), every other one exactly.
TEST_CASE("art: a rebase clamps versions at the floor and keeps the others exact") {
  constexpr uint64_t k32 = uint64_t{1} << 32;
  ArtTree tree(false);
  tree.write_point("a", 3);
  tree.write_point("c", 7);
  tree.write_point("e", 10);
  tree.write_point("g", k32 - 1);  // the highest version that fits base 0
  CHECK(tree.rebases() == 0);
  CHECK(tree.version_at("g") == k32 - 1);
  tree.check_invariants();
  tree.set_floor(7);
  tree.set_floor(6);  // never lowers
  CHECK(tree.floor() == 7);
  tree.write_point("i", k32 + 6);  // 2^32 + 6 above base 0: the base moves to the floor
  CHECK(tree.rebases() == 1);
  CHECK(tree.base() == 7);
  tree.check_invariants();
  CHECK(tree.version_at("a") == 7);  // 3, clamped up to the base
  CHECK(tree.version_at("") == 7);   // before every entry: 0, clamped alike
  CHECK(tree.version_at("b") == 7);  // a's range, 0
  CHECK(tree.version_at("c") == 7);
  CHECK(tree.version_at("e") == 10);
  CHECK(tree.version_at("f") == 7);  // e's range: 0 (a point write keeps the one before)
  CHECK(tree.version_at("g") == k32 - 1);
  CHECK(tree.version_at("i") == k32 + 6);
  std::string_view keys[4] = {"a", "d", "g", "j"};
  uint64_t got[4];
  tree.versions_at(keys, 4, got);
  CHECK(got[0] == 7);
  CHECK(got[1] == 7);
  CHECK(got[2] == k32 - 1);
  CHECK(got[3] == 7);
  // Range checks at the floor and above: only versions above v count.
  CHECK(!tree.any_above("", std::string_view("d"), 7));
  CHECK(tree.any_above("", std::string_view("f"), 7));
  CHECK(!tree.any_above("", std::string_view("f"), 10));
  CHECK(tree.any_above("f", std::nullopt, k32 + 5));
  CHECK(!tree.any_above("f", std::nullopt, k32 + 6));
  CHECK(!tree.any_above("f", std::nullopt, uint64_t{1} << 52));  // far past the stored range
  // Exactly 2^32 - 1 above the base still fits.
  tree.write_point("k", 7 + k32 - 1);
  CHECK(tree.rebases() == 1);
  CHECK(tree.version_at("k") == 7 + k32 - 1);
  // A jump of more than 2^32 past everything stored: once the floor has followed, every
  // stored version is at or below it and reads back as the new base.
  uint64_t far = uint64_t{1} << 45;
  tree.set_floor(far - 100);
  tree.write_range("b", std::string_view("d"), far);
  CHECK(tree.rebases() == 2);
  CHECK(tree.base() == far - 100);
  tree.check_invariants();
  CHECK(tree.version_at("a") == far - 100);
  CHECK(tree.version_at("b") == far);
  CHECK(tree.version_at("c") == far);
  CHECK(tree.version_at("d") == far - 100);  // pinned: what covered d before, clamped
  CHECK(tree.version_at("k") == far - 100);
  CHECK(!tree.any_above("d", std::nullopt, far - 100));
  CHECK(tree.any_above("", std::string_view("z"), far - 1));
  // Collection at the floor drops every entry that only repeats the clamped versions.
  for (int i = 0; i < 10 && tree.entry_count() > 1; ++i) {  // bounded-poll
    tree.collect(far - 100, 100);
  }
  tree.check_invariants();
  CHECK(tree.entry_count() == 2);  // b (above the floor) and d, where b's range ends
  CHECK(tree.version_at("b") == far);
  CHECK(tree.version_at("c") == far);
  CHECK(tree.version_at("d") == far - 100);
  CHECK(tree.version_at("e") == far - 100);
  CHECK(tree.max_version() == far);
  // clear() forgets everything; the base may then start at the floor.
  tree.clear();
  CHECK(tree.base() == far - 100);
  tree.write_point("x", far - 100 + k32 - 1);
  CHECK(tree.rebases() == 2);
  CHECK(tree.version_at("x") == far - 100 + k32 - 1);
  tree.check_invariants();
}

TEST_CASE("art: collect() over Node32s, Node48s and Node256s of leaves keeps every answer") {
  Lcg rng{11};
  // "w" and up to 3 bytes of any value: a Node256 whose children are mostly inline leaves,
  // and Node4s of leaves where keys share a byte (collection walks both in place); "n" and
  // bytes of 40 values: the same below a Node48.
  Counts most = collect_against_model(
      rng,
      [&] {
        bool wide = rng.next() % 2 == 0;
        std::string k = wide ? "w" : "n";
        size_t len = 1 + rng.next() % 3;
        for (size_t i = 0; i < len; ++i) {
          k.push_back(static_cast<char>(wide ? rng.next() % 256 : rng.next() % 40));
        }
        return k;
      },
      20000);
  CHECK(most.n[static_cast<int>(art::Type::k256)] >= 1);
  CHECK(most.n[static_cast<int>(art::Type::k48)] >= 1);
  CHECK(most.n[static_cast<int>(art::Type::k32)] >= 1);
  CHECK(most.n[static_cast<int>(art::Type::k4)] >= 10);
}

// A Node48 keeps, for each byte without a child, its closest smaller child in the same table
// (reads of absent keys use it instead of a bit search): children come and go at random
// bytes, singly and in runs, and every byte's answer is checked against the model.
TEST_CASE("art: a Node48 answers absent bytes from its index through inserts and removals") {
  ArtTree tree(false, 0);
  Model model;
  Lcg rng{23};
  uint64_t v = 0;
  int steps_in_node48 = 0;
  for (int step = 0; step < 3500; ++step) {
    unsigned b = static_cast<unsigned>(rng.next() % 256);
    if (model.entries.size() < 40 || rng.next() % 3 != 0) {
      tree.write_point(key_of("k", b), ++v);
      model.write_point(key_of("k", b), v);
    } else {  // erases the children strictly between b and b + 1 + up to 3
      unsigned e = std::min(255u, b + 2 + static_cast<unsigned>(rng.next() % 3));
      b = std::min(b, e - 1);
      tree.write_range(key_of("k", b), key_of("k", e), ++v);
      model.write_range(key_of("k", b), key_of("k", e), v);
    }
    tree.check_invariants();
    if (counts(tree).n[static_cast<int>(art::Type::k48)] == 1) ++steps_in_node48;
    for (unsigned c = 0; c < 256; ++c) {
      // The byte's own key, and one just after it (its range, or its predecessor's).
      REQUIRE(tree.version_at(key_of("k", c)) == model.version_at(key_of("k", c)));
      std::string after = key_of("k", c) + "x";
      REQUIRE(tree.version_at(after) == model.version_at(after));
    }
    // Starts over before the node outgrows a Node48 (a step adds at most one child).
    if (model.entries.size() > 46) {
      tree.write_range(key_of("k", 0), std::nullopt, ++v);
      model.write_range(key_of("k", 0), std::nullopt, v);
    }
  }
  CHECK(steps_in_node48 > 1000);
}

// Keys that are prefixes of each other make one level per byte: paths far deeper than the
// levels a descent keeps for finding an absent key's predecessor (the rest are folded).
TEST_CASE("art: absent keys below deep paths find their predecessor's range") {
  ArtTree tree(false, 0);
  Model model;
  uint64_t v = 0;
  const int depth = 70;
  // Every third level holds an entry, and a sibling branch ("x") hangs off every fifth, so
  // the predecessor is sometimes many levels up and sometimes a smaller sibling's tail.
  for (int i = 1; i <= depth; ++i) {
    std::string k(static_cast<size_t>(i), 'm');
    if (i % 3 == 0) {
      tree.write_point(k, ++v);
      model.write_point(k, v);
    }
    if (i % 5 == 0) {
      std::string side = k + "a";
      // A range: the sibling's tail differs from its point.
      tree.write_range(side, side + "b", ++v);
      model.write_range(side, side + "b", v);
    }
    if (i % 7 == 0) {  // an entry below the chain keeps its nodes branching
      tree.write_point(k + "z", ++v);
      model.write_point(k + "z", v);
    }
  }
  tree.check_invariants();
  CHECK(tree.height() > 20);
  std::vector<std::string> probes;
  for (int i = 0; i <= depth + 1; ++i) {
    std::string k(static_cast<size_t>(i), 'm');
    probes.push_back(k);
    for (char c : {'\0', 'a', 'b', 'c', 'n', 'y', 'z', '\xff'}) probes.push_back(k + c);
    probes.push_back(k + "ab");
    probes.push_back(k + "a\xff");
  }
  for (size_t at = 0; at < probes.size(); at += kGroup) {
    std::string_view views[kGroup];
    uint64_t got[kGroup];
    int n = static_cast<int>(std::min<size_t>(kGroup, probes.size() - at));
    for (int j = 0; j < n; ++j) views[j] = probes[at + static_cast<size_t>(j)];
    tree.versions_at(views, n, got);
    for (int j = 0; j < n; ++j) {
      INFO("probe of " << views[j].size() << " bytes");
      CHECK(got[j] == model.version_at(views[j]));
      CHECK(tree.version_at(views[j]) == model.version_at(views[j]));
    }
  }
  // Writes of new keys deep down take their range from the same search.
  for (int i = 4; i <= depth; i += 9) {
    std::string k = std::string(static_cast<size_t>(i), 'm') + "c";
    tree.write_point(k, ++v);
    model.write_point(k, v);
  }
  tree.check_invariants();
  for (const std::string& p : probes) CHECK(tree.version_at(p) == model.version_at(p));

  // One entry at the top ("mmm", its range 1 covering the keys up to "mmmn") and a chain of
  // 60 levels below it that branch only to larger bytes ("m..mz"): an absent key at the
  // bottom finds its predecessor's range 60 levels up, past every level a descent keeps.
  ArtTree chain(false);
  Model chain_model;
  chain.write_range("mmm", std::string("mmmn"), 1);
  chain_model.write_range("mmm", std::string("mmmn"), 1);
  for (int i = 4; i <= 64; ++i) {
    std::string k = std::string(static_cast<size_t>(i), 'm') + "z";
    chain.write_point(k, static_cast<uint64_t>(i));
    chain_model.write_point(k, static_cast<uint64_t>(i));
  }
  chain.check_invariants();
  CHECK(chain.height() > 40);
  for (int i = 3; i <= 66; ++i) {
    std::string k(static_cast<size_t>(i), 'm');
    CHECK(chain_model.version_at(k + "a") == 1);  // the range of "mmm", i - 3 levels up
    for (const std::string& p : {k, k + "a", k + '\0', k + "z", k + "zz"}) {
      INFO("probe of " << p.size() << " bytes");
      CHECK(chain.version_at(p) == chain_model.version_at(p));
      uint64_t grouped = 0;
      std::string_view view = p;
      chain.versions_at(&view, 1, &grouped);
      CHECK(grouped == chain_model.version_at(p));
    }
  }
}

TEST_CASE("art: randomized vs the boundary model, grouped and single lookups agree") {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    ArtTree tree(false, 0);
    Model model;
    uint64_t state = seed;
    auto next = [&] {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      return state >> 33;
    };
    auto random_key = [&] {
      std::string k = next() % 2 ? "usertable/" : "";
      size_t len = next() % 5;
      for (size_t i = 0; i < len; ++i)
        k.push_back(static_cast<char>(next() % 256 < 200 ? next() % 6 : next()));
      return k;
    };
    uint64_t v = 0;
    for (int i = 0; i < 4000; ++i) {
      ++v;
      std::string k = random_key();
      uint64_t op = next() % 10;
      if (op < 7) {
        tree.write_point(k, v);
        model.write_point(k, v);
      } else if (op < 9) {
        std::string e = random_key();
        if (k < e) {
          tree.write_range(k, e, v);
          model.write_range(k, e, v);
        }
      } else {
        tree.write_range(k, std::nullopt, v);
        model.write_range(k, std::nullopt, v);
      }
      if (i % 500 == 0) tree.check_invariants();
      std::string probes[kGroup];
      std::string_view views[kGroup];
      uint64_t got[kGroup];
      for (int j = 0; j < kGroup; ++j) views[j] = probes[j] = random_key();
      tree.versions_at(views, kGroup, got);
      for (int j = 0; j < kGroup; ++j) {
        uint64_t want = model.version_at(probes[j]);
        CHECK(got[j] == want);
        CHECK(tree.version_at(probes[j]) == want);
      }
      // As ConflictSet asks (the version at b, then the entries after it): a bound may
      // overstate a subtree whose entries a range write erased, never the answer.
      std::string b = random_key();
      std::string e = random_key();
      uint64_t rv = next() % (v + 1);
      if (b < e) {
        CHECK((tree.version_at(b) > rv || tree.any_above(b, e, rv)) ==
              (model.version_at(b) > rv || model.any_above(b, e, rv)));
      }
    }
    tree.check_invariants();
    CHECK(tree.entry_count() == model.entries.size());
  }
}

}  // namespace
}  // namespace weasel::cset
