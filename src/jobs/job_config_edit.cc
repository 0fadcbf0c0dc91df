#include "jobs/job_config_edit.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "jobs/job_config.h"

namespace ctdump::jobs {
namespace {

// jobs.cfg's text as lines (without their '\n'), and whether it ended with one.
struct Lines {
  std::vector<std::string> lines;
  bool final_newline = false;

  explicit Lines(std::string_view text) {
    size_t pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string_view::npos) {
        lines.emplace_back(text.substr(pos));
        return;
      }
      lines.emplace_back(text.substr(pos, nl - pos));
      pos = nl + 1;
    }
    final_newline = !text.empty();
  }

  std::string Join() const {
    std::string out;
    for (size_t i = 0; i < lines.size(); ++i) {
      out += lines[i];
      if (i + 1 < lines.size() || final_newline) out += '\n';
    }
    return out;
  }
};

bool Blank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

bool Comment(std::string_view line) {
  size_t first = line.find_first_not_of(" \t\r");
  return first != std::string_view::npos && line[first] == '#';
}

// One past the last line (0-based) of the block whose header is line h.
size_t BlockEnd(const Lines& l, size_t h) {
  size_t j = h + 1;
  for (; j < l.lines.size(); ++j) {
    const std::string& line = l.lines[j];
    if (Blank(line)) break;
    if (Comment(line)) continue;
    if (line[0] != ' ' && line[0] != '\t') break;  // a header (or junk) at column 0
  }
  return j;
}

std::string OptionLine(const std::string& key, const std::string& value) {
  return "\t" + key + " " + value;
}

std::string UnknownJob(std::string_view id) { return fmt::format("No such job '{}'", id); }

// The refusal of job `id` for `errors` (none: OK), which also go to
// *key_errors if given.
Status Refused(const std::string& id, const KeyErrors& errors, KeyErrors* key_errors) {
  if (errors.empty()) return Status::OK();
  if (key_errors) *key_errors = errors;
  std::string why;
  for (const auto& [key, message] : errors)
    why += fmt::format("{}{}: {}", why.empty() ? "" : "; ", key, message);
  return InvalidArgumentError(fmt::format("job '{}' is not valid: {}", id, why));
}

// Refuses values the parser would read back as something else.
Status CheckValues(const Section& s, KeyErrors* key_errors) {
  KeyErrors errors;
  for (const auto& [key, value] : s.options) {
    bool bad_key =
        key.empty() || std::any_of(key.begin(), key.end(), [](char c) {
          return !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_');
        });
    if (bad_key)
      errors[key] = "invalid key";
    else if (value.empty())
      errors[key] = "value is empty";
    else if (value.find_first_of(std::string_view("\n\r\0", 3)) != std::string::npos)
      errors[key] = "value contains a line feed, carriage return or NUL";
    else if (value.front() == ' ' || value.front() == '\t' || value.back() == ' ' ||
             value.back() == '\t')
      errors[key] = "value starts or ends with white space";
  }
  return Refused(s.id, errors, key_errors);
}

// The line number in "<file>:<line>: why", and the why.
std::optional<std::pair<size_t, std::string>> ErrorLine(const std::string& message,
                                                        const std::string& filename) {
  std::string prefix = filename + ":";
  if (!message.starts_with(prefix)) return std::nullopt;
  size_t colon = message.find(": ", prefix.size());
  if (colon == std::string::npos) return std::nullopt;
  std::string digits = message.substr(prefix.size(), colon - prefix.size());
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::make_pair(static_cast<size_t>(std::strtoull(digits.c_str(), nullptr, 10)),
                        message.substr(colon + 2));
}

// Parses `l` back; errors on lines first..last (1-based, inclusive) are the
// edited section's, keyed by `keys` (line -> key; others "id").
Result<std::string> Check(const Lines& l, const std::string& filename, const std::string& id,
                          size_t first, size_t last, const std::map<size_t, std::string>& keys,
                          KeyErrors* key_errors) {
  std::string text = l.Join();
  JobsConfig cfg = ParseJobsConfig(text, filename);
  KeyErrors errors;
  for (const Status& e : cfg.errors) {
    auto at = ErrorLine(e.message(), filename);
    if (!at || at->first < first || at->first > last) continue;
    auto key = keys.find(at->first);
    std::string name = key == keys.end() ? "id" : key->second;
    if (!errors.count(name)) errors[name] = at->second;
  }
  if (errors.empty() && !cfg.Find(id)) errors["id"] = "the job could not be read back";
  RETURN_IF_ERROR(Refused(id, errors, key_errors));
  return text;
}

std::optional<LocatedSection> Locate(std::string_view text, const std::string& filename,
                                     std::string_view id) {
  ParsedSectionConfig parsed = ParseSectionConfigLines(text, filename);
  for (LocatedSection& s : parsed.sections)
    if (s.section.id == id) return std::move(s);
  return std::nullopt;
}

}  // namespace

std::optional<Section> FindJobSection(std::string_view text, const std::string& filename,
                                      std::string_view id) {
  auto s = Locate(text, filename, id);
  if (!s) return std::nullopt;
  return s->section;
}

Result<std::string> AddJobSection(std::string_view text, const std::string& filename,
                                  const Section& section, KeyErrors* key_errors) {
  if (Locate(text, filename, section.id))
    return AlreadyExistsError(fmt::format("Job '{}' already exists", section.id));
  RETURN_IF_ERROR(CheckValues(section, key_errors));
  Lines l(text);
  if (!l.lines.empty() && !Blank(l.lines.back())) l.lines.emplace_back();
  l.final_newline = true;
  const size_t first = l.lines.size() + 1;
  std::map<size_t, std::string> keys;
  l.lines.push_back(section.type + ": " + section.id);
  for (const auto& [key, value] : section.options) {
    l.lines.push_back(OptionLine(key, value));
    keys[l.lines.size()] = key;
  }
  return Check(l, filename, section.id, first, l.lines.size(), keys, key_errors);
}

Result<std::string> ReplaceJobSection(std::string_view text, const std::string& filename,
                                      const Section& section, KeyErrors* key_errors) {
  auto located = Locate(text, filename, section.id);
  if (!located || located->section.type != section.type)
    return NotFoundError(UnknownJob(section.id));
  RETURN_IF_ERROR(CheckValues(section, key_errors));
  Lines l(text);
  const size_t h = located->line - 1;
  const size_t e = BlockEnd(l, h);
  std::map<size_t, std::string> old_key;  // 0-based line -> key
  for (size_t i = 0; i < located->option_lines.size(); ++i)
    old_key[located->option_lines[i] - 1] = located->section.options[i].first;
  std::map<std::string, std::string> wanted(section.options.begin(), section.options.end());

  // The block as (line, key); the header first.
  std::vector<std::pair<std::string, std::string>> block = {{l.lines[h], ""}};
  size_t insert_at = 1;  // after the last option line
  std::map<std::string, bool> written;
  for (size_t j = h + 1; j < e; ++j) {
    if (Comment(l.lines[j])) {
      block.emplace_back(l.lines[j], "");
      continue;
    }
    auto k = old_key.find(j);
    if (k == old_key.end()) continue;  // a line the parser refused
    auto w = wanted.find(k->second);
    if (w == wanted.end() || written[k->second]) continue;
    auto old_value = located->section.Get(k->second);
    block.emplace_back(old_value == w->second ? l.lines[j] : OptionLine(w->first, w->second),
                       w->first);
    written[k->second] = true;
    insert_at = block.size();
  }
  std::vector<std::pair<std::string, std::string>> added;
  for (const auto& [key, value] : section.options)
    if (!written[key]) added.emplace_back(OptionLine(key, value), key);
  block.insert(block.begin() + static_cast<std::ptrdiff_t>(insert_at), added.begin(), added.end());

  std::vector<std::string> out(l.lines.begin(), l.lines.begin() + static_cast<std::ptrdiff_t>(h));
  std::map<size_t, std::string> keys;
  for (const auto& [line, key] : block) {
    out.push_back(line);
    if (!key.empty()) keys[out.size()] = key;
  }
  const size_t last = out.size();
  out.insert(out.end(), l.lines.begin() + static_cast<std::ptrdiff_t>(e), l.lines.end());
  l.lines = std::move(out);
  if (l.lines.size() == last) l.final_newline = true;
  return Check(l, filename, section.id, h + 1, last, keys, key_errors);
}

Result<std::string> RemoveJobSection(std::string_view text, const std::string& filename,
                                     std::string_view type, std::string_view id) {
  auto located = Locate(text, filename, id);
  if (!located || located->section.type != type) return NotFoundError(UnknownJob(id));
  Lines l(text);
  const size_t h = located->line - 1;
  const size_t e = BlockEnd(l, h);
  std::vector<std::string> kept;
  for (size_t j = h + 1; j < e; ++j)
    if (Comment(l.lines[j])) kept.push_back(l.lines[j]);
  size_t from = h, to = e;  // the lines replaced by `kept`
  if (kept.empty()) {
    if (to < l.lines.size() && Blank(l.lines[to]))
      ++to;
    else if (from > 0 && Blank(l.lines[from - 1]))
      --from;
  }
  std::vector<std::string> out(l.lines.begin(),
                               l.lines.begin() + static_cast<std::ptrdiff_t>(from));
  out.insert(out.end(), kept.begin(), kept.end());
  const bool at_end = to == l.lines.size();
  out.insert(out.end(), l.lines.begin() + static_cast<std::ptrdiff_t>(to), l.lines.end());
  l.lines = std::move(out);
  if (at_end && !l.lines.empty()) l.final_newline = true;
  return l.Join();
}

}  // namespace ctdump::jobs
