// MetricsRegistry: registration (validated, under the mutex) and the text exposition.
#include <charconv>
#include <cmath>
#include <string>

#include "core/assert.hpp"
#include "metrics/metrics.hpp"

namespace weasel {
namespace {

// Limits on what code can register, so that a label fed with unbounded values (a bug)
// fails loudly instead of growing the registry without end.
constexpr size_t kFamiliesMax = 4096;
constexpr size_t kChildrenPerFamilyMax = 10000;
constexpr size_t kLabelsMax = 16;

constexpr std::string_view kHistogramSuffixes[] = {"_bucket", "_sum", "_count"};

bool is_lower(char c) {
  return c >= 'a' && c <= 'z';
}
bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Stricter than Prometheus ([a-zA-Z_:][a-zA-Z0-9_:]*): lowercase snake_case is what
// `promtool check metrics` accepts without lint warnings, and colons are reserved for
// recording rules.
bool valid_metric_name(std::string_view name) {
  if (name.empty() || is_digit(name[0])) return false;
  for (char c : name) {
    if (!is_lower(c) && !is_digit(c) && c != '_') return false;
  }
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || is_digit(name[0]) || name.starts_with("__") || name == "le") return false;
  for (char c : name) {
    if (!is_lower(c) && !is_upper(c) && !is_digit(c) && c != '_') return false;
  }
  return true;
}

// Prometheus requires label values to be valid UTF-8 (shortest form, no surrogates).
bool valid_utf8(std::string_view text) {
  static constexpr uint32_t kMinByExtra[] = {0, 0x80, 0x800, 0x10000};
  size_t i = 0;
  while (i < text.size()) {
    auto byte = static_cast<unsigned char>(text[i]);
    size_t extra = 0;
    uint32_t code = byte;
    if (byte < 0x80) {
      ++i;
      continue;
    } else if ((byte & 0xE0) == 0xC0) {
      extra = 1;
      code = byte & 0x1F;
    } else if ((byte & 0xF0) == 0xE0) {
      extra = 2;
      code = byte & 0x0F;
    } else if ((byte & 0xF8) == 0xF0) {
      extra = 3;
      code = byte & 0x07;
    } else {
      return false;
    }
    if (text.size() - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    if (code < kMinByExtra[extra] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

bool ends_with_histogram_suffix(std::string_view name, std::string_view& base) {
  for (std::string_view suffix : kHistogramSuffixes) {
    if (name.ends_with(suffix)) {
      base = name.substr(0, name.size() - suffix.size());
      return true;
    }
  }
  return false;
}

void append_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void append_help(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void append_uint(std::string& out, uint64_t value) {
  char buffer[24];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  WEASEL_ASSERT(error == std::errc());
  out.append(buffer, end);
}

// Shortest round-trip form in %g style ("0.005", "5e-05", "1e+06"): what Go's
// strconv.FormatFloat(v, 'g', -1, 64) prints, so "le" label values match those of the
// official client libraries. Special values are spelled as the format requires.
void append_float(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    char buffer[32];
    auto [end, error] =
        std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::general);
    WEASEL_ASSERT(error == std::errc());
    out.append(buffer, end);
  }
}

// Sample values: integral values (versions, byte counts) without an exponent, since they
// are what a human reads most; anything else as append_float.
void append_sample(std::string& out, double value) {
  constexpr double kTwoPow63 = 9223372036854775808.0;
  if (std::isfinite(value) && value == std::trunc(value) && std::fabs(value) < kTwoPow63 &&
      !(value == 0 && std::signbit(value))) {
    char buffer[24];
    auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), static_cast<int64_t>(value));
    WEASEL_ASSERT(error == std::errc());
    out.append(buffer, end);
  } else {
    append_float(out, value);
  }
}

// `name{labels,le="..."} ` up to the value.
void append_series(std::string& out, std::string_view name, std::string_view suffix,
                   std::string_view labels, std::string_view le = {}) {
  out += name;
  out += suffix;
  if (!labels.empty() || !le.empty()) {
    out += '{';
    out += labels;
    if (!le.empty()) {
      if (!labels.empty()) out += ',';
      out += "le=\"";
      out += le;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
}

}  // namespace

struct MetricsRegistry::Child {
  std::string label_text;  // a="x",b="y\"z" (escaped); empty without labels
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::unique_ptr<Histogram> histogram;
  std::function<double()> callback;
};

struct MetricsRegistry::Family {
  std::string name;
  std::string help;
  Type type;
  std::vector<std::string> label_names;
  std::vector<double> upper_bounds;              // histograms only
  std::vector<std::string> le_texts;             // histograms only: formatted bounds, then "+Inf"
  std::vector<std::unique_ptr<Child>> children;  // registration order
  std::unordered_map<std::string_view, Child*> children_by_labels;  // keys owned by Child
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Family& MetricsRegistry::family_locked(std::string_view name,
                                                        std::string_view help, Type type,
                                                        Labels labels,
                                                        std::span<const double> upper_bounds) {
  std::string name_text(name);
  WEASEL_ASSERT_MSG(valid_metric_name(name), ("bad metric name: " + name_text).c_str());
  WEASEL_ASSERT_MSG(!help.empty(), ("metric without help: " + name_text).c_str());
  WEASEL_ASSERT_MSG((type == Type::kCounter) == name.ends_with("_total"),
                    ("counters, and only counters, end in _total: " + name_text).c_str());
  WEASEL_ASSERT_MSG(labels.size() <= kLabelsMax, ("too many labels: " + name_text).c_str());

  auto it = families_by_name_.find(name);
  if (it != families_by_name_.end()) {
    Family& family = *it->second;
    WEASEL_ASSERT_MSG(family.type == type,
                      ("metric registered with two types: " + name_text).c_str());
    WEASEL_ASSERT_MSG(family.help == help,
                      ("metric registered with two helps: " + name_text).c_str());
    bool same_names = family.label_names.size() == labels.size();
    size_t i = 0;
    for (const auto& [label, value] : labels) {
      same_names = same_names && family.label_names[i++] == label;
    }
    WEASEL_ASSERT_MSG(same_names, ("metric registered with two label sets: " + name_text).c_str());
    WEASEL_ASSERT_MSG(std::equal(upper_bounds.begin(), upper_bounds.end(),
                                 family.upper_bounds.begin(), family.upper_bounds.end()),
                      ("histogram registered with two bucket sets: " + name_text).c_str());
    return family;
  }

  // A histogram "x" exposes x_bucket, x_sum and x_count: no other family may take those.
  std::string_view base;
  if (ends_with_histogram_suffix(name, base)) {
    auto clash = families_by_name_.find(base);
    WEASEL_ASSERT_MSG(clash == families_by_name_.end() || clash->second->type != Type::kHistogram,
                      ("metric name clashes with a histogram's series: " + name_text).c_str());
  }
  if (type == Type::kHistogram) {
    for (std::string_view suffix : kHistogramSuffixes) {
      WEASEL_ASSERT_MSG(!families_by_name_.contains(name_text + std::string(suffix)),
                        ("histogram series clash with another metric: " + name_text).c_str());
    }
  }
  WEASEL_ASSERT_MSG(families_.size() < kFamiliesMax, "too many metric families");

  auto family = std::make_unique<Family>();
  family->name = std::move(name_text);
  family->help = std::string(help);
  family->type = type;
  for (const auto& [label, value] : labels) family->label_names.emplace_back(label);
  family->upper_bounds.assign(upper_bounds.begin(), upper_bounds.end());
  if (type == Type::kHistogram) {
    for (double bound : upper_bounds) {
      family->le_texts.emplace_back();
      append_float(family->le_texts.back(), bound);
    }
    family->le_texts.emplace_back("+Inf");
  }
  Family& result = *family;
  families_by_name_.emplace(result.name, &result);
  families_.push_back(std::move(family));
  return result;
}

MetricsRegistry::Child& MetricsRegistry::child_locked(Family& family, Labels labels,
                                                      bool& created) {
  std::string label_text;
  size_t index = 0;
  for (const auto& [label, value] : labels) {
    WEASEL_ASSERT_MSG(valid_label_name(label),
                      ("bad label name: " + std::string(label) + " of " + family.name).c_str());
    for (size_t j = 0; j < index; ++j) {
      WEASEL_ASSERT_MSG(family.label_names[j] != label,
                        ("label repeated: " + std::string(label) + " of " + family.name).c_str());
    }
    WEASEL_ASSERT_MSG(valid_utf8(value), ("label value is not UTF-8 in " + family.name).c_str());
    if (index++ > 0) label_text += ',';
    label_text += label;
    label_text += "=\"";
    append_label_value(label_text, value);
    label_text += '"';
  }
  auto it = family.children_by_labels.find(label_text);
  if (it != family.children_by_labels.end()) {
    created = false;
    return *it->second;
  }
  WEASEL_ASSERT_MSG(family.children.size() < kChildrenPerFamilyMax,
                    ("too many label values for " + family.name).c_str());
  auto child = std::make_unique<Child>();
  child->label_text = std::move(label_text);
  Child& result = *child;
  family.children_by_labels.emplace(result.label_text, &result);
  family.children.push_back(std::move(child));
  created = true;
  return result;
}

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help, Labels labels) {
  std::lock_guard lock(mutex_);
  Family& family = family_locked(name, help, Type::kCounter, labels, {});
  bool created = false;
  Child& child = child_locked(family, labels, created);
  if (created) child.counter = std::make_unique<Counter>();
  return *child.counter;
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help, Labels labels) {
  std::lock_guard lock(mutex_);
  Family& family = family_locked(name, help, Type::kGauge, labels, {});
  bool created = false;
  Child& child = child_locked(family, labels, created);
  if (created) child.gauge = std::make_unique<Gauge>();
  WEASEL_ASSERT_MSG(child.gauge != nullptr,
                    ("gauge already registered as a callback: " + family.name).c_str());
  return *child.gauge;
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                      std::span<const double> upper_bounds, Labels labels) {
  std::lock_guard lock(mutex_);
  Family& family = family_locked(name, help, Type::kHistogram, labels, upper_bounds);
  bool created = false;
  Child& child = child_locked(family, labels, created);
  if (created) child.histogram = std::make_unique<Histogram>(upper_bounds);
  return *child.histogram;
}

void MetricsRegistry::gauge_callback(std::string_view name, std::string_view help, Labels labels,
                                     std::function<double()> fn) {
  WEASEL_ASSERT(fn != nullptr);
  std::lock_guard lock(mutex_);
  Family& family = family_locked(name, help, Type::kGauge, labels, {});
  bool created = false;
  Child& child = child_locked(family, labels, created);
  WEASEL_ASSERT_MSG(created, ("gauge registered twice: " + family.name).c_str());
  child.callback = std::move(fn);
}

void MetricsRegistry::render(std::string& out) const {
  static constexpr std::string_view kTypeNames[] = {"counter", "gauge", "histogram"};
  std::lock_guard lock(mutex_);
  std::vector<uint64_t> counts;
  for (const std::unique_ptr<Family>& family : families_) {
    out += "# HELP ";
    out += family->name;
    out += ' ';
    append_help(out, family->help);
    out += "\n# TYPE ";
    out += family->name;
    out += ' ';
    out += kTypeNames[static_cast<int>(family->type)];
    out += '\n';
    for (const std::unique_ptr<Child>& child : family->children) {
      const std::string& labels = child->label_text;
      if (child->counter) {
        append_series(out, family->name, "", labels);
        append_uint(out, child->counter->value());
      } else if (child->gauge || child->callback) {
        append_series(out, family->name, "", labels);
        append_sample(out, child->gauge ? child->gauge->value() : child->callback());
      } else {
        WEASEL_ASSERT(child->histogram != nullptr);
        child->histogram->bucket_counts(counts);
        WEASEL_ASSERT(counts.size() == family->le_texts.size());
        uint64_t cumulative = 0;
        for (size_t i = 0; i < counts.size(); ++i) {
          cumulative += counts[i];
          append_series(out, family->name, "_bucket", labels, family->le_texts[i]);
          append_uint(out, cumulative);
          out += '\n';
        }
        append_series(out, family->name, "_sum", labels);
        append_sample(out, child->histogram->sum());
        out += '\n';
        // _count equals the +Inf bucket by construction, even while observations race.
        append_series(out, family->name, "_count", labels);
        append_uint(out, cumulative);
      }
      out += '\n';
    }
  }
}

}  // namespace weasel
