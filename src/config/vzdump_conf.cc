// Parser for /etc/vzdump.conf (PVE::JSONSchema::parse_config with the vzdump
// defaults schema), plus Perl's shellwords for exclude-path values.
#include "ctdump/vzdump_conf.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "config/text_util.h"

namespace ctdump {
namespace {

using config::IsSpace;
using config::Trim;
using config::Where;

// Every key of PVE's vzdump.conf schema (and `node`), and what ctdump does
// with it. Keep in step with README.md ("ctdump.conf keys").
enum class KeyKind {
  kImplemented,
  kIgnored,   // accepted with a warning: ctdump does nothing with it
  kRejected,  // an error: ctdump cannot do what the key asks
};

struct KeyInfo {
  std::string_view name;
  KeyKind kind;
  std::string_view why;  // kIgnored / kRejected: the reason shown to the admin
};

constexpr std::string_view kDeprecatedNotify =
    "deprecated since Proxmox VE 8.2 and ignored: notifications go by notification-mode and the "
    "matchers of notifications.cfg";

constexpr KeyInfo kKeys[] = {
    {"mode", KeyKind::kImplemented, ""},
    {"storage", KeyKind::kImplemented, ""},
    {"dumpdir", KeyKind::kImplemented, ""},
    {"bwlimit", KeyKind::kImplemented, ""},
    {"stdexcludes", KeyKind::kImplemented, ""},
    {"exclude-path", KeyKind::kImplemented, ""},
    {"tmpdir", KeyKind::kImplemented, ""},
    {"script", KeyKind::kImplemented, ""},
    {"lockwait", KeyKind::kImplemented, ""},
    {"stopwait", KeyKind::kImplemented, ""},
    {"remove", KeyKind::kImplemented, ""},
    {"prune-backups", KeyKind::kImplemented, ""},
    {"maxfiles", KeyKind::kImplemented, ""},
    {"notes-template", KeyKind::kImplemented, ""},
    {"protected", KeyKind::kImplemented, ""},
    {"compress", KeyKind::kImplemented, ""},
    {"zstd", KeyKind::kImplemented, ""},
    {"ionice", KeyKind::kImplemented, ""},
    {"quiet", KeyKind::kImplemented, ""},
    {"node", KeyKind::kImplemented, ""},
    {"mailto", KeyKind::kImplemented, ""},
    {"mailnotification", KeyKind::kImplemented, ""},
    {"notification-mode", KeyKind::kImplemented, ""},
    {"notification-target", KeyKind::kIgnored, kDeprecatedNotify},
    {"notification-policy", KeyKind::kIgnored, kDeprecatedNotify},
    {"pigz", KeyKind::kRejected,
     "ctdump compresses gzip itself with one thread; use 'compress: zstd' and 'zstd: <threads>'"},
    {"performance", KeyKind::kRejected,
     "it tunes QEMU and Proxmox Backup Server backups, which ctdump does not make"},
    {"fleecing", KeyKind::kRejected, "fleecing applies to QEMU backups only"},
    {"pbs-change-detection-mode", KeyKind::kRejected,
     "it applies to Proxmox Backup Server storages; ctdump's datastore always detects changes "
     "by metadata (use --force-full to read everything)"},
    {"pool", KeyKind::kRejected, "ctdump has no resource pools; name the containers or use --all"},
};

const KeyInfo* FindKey(std::string_view key) {
  for (const KeyInfo& k : kKeys)
    if (k.name == key) return &k;
  return nullptr;
}

// Appends the content of a quoted string starting at text[i] (the quote) to
// *word and returns the index after the closing quote, or npos if unclosed.
size_t ReadQuoted(std::string_view text, size_t i, std::string* word) {
  char quote = text[i++];
  while (i < text.size() && text[i] != quote) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      // In "..." the backslash escapes; in '...' it only keeps the next
      // character (possibly a quote) inside the string and stays itself.
      if (quote == '\'') word->push_back('\\');
      ++i;
    }
    word->push_back(text[i++]);
  }
  return i < text.size() ? i + 1 : std::string_view::npos;
}

}  // namespace

Result<std::vector<std::string>> SplitShellWords(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (IsSpace(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
      continue;
    }
    in_word = true;
    if (c == '"' || c == '\'') {
      i = ReadQuoted(text, i, &word);
      if (i == std::string_view::npos) {
        return InvalidArgumentError(fmt::format("unbalanced {} quote in '{}'", c, text));
      }
    } else if (c == '\\') {
      if (i + 1 >= text.size()) {
        return InvalidArgumentError(fmt::format("trailing backslash in '{}'", text));
      }
      word.push_back(text[i + 1]);
      i += 2;
    } else {
      word.push_back(c);
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

std::string VzdumpConf::Where(std::string_view key) const {
  for (size_t i = values.size(); i-- > 0;)
    if (values[i].first == key && i < lines.size()) return config::Where(filename, lines[i]);
  return filename;
}

std::optional<std::string> VzdumpConf::Get(std::string_view key) const {
  for (auto it = values.rbegin(); it != values.rend(); ++it) {
    if (it->first == key) return it->second;
  }
  return std::nullopt;
}

Result<VzdumpConf> ParseVzdumpConf(std::string_view text, const std::string& filename) {
  VzdumpConf conf;
  std::vector<std::string_view> lines = config::SplitLines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string where = Where(filename, i + 1);
    std::string_view line = Trim(lines[i]);
    if (line.empty() || line[0] == '#') continue;
    size_t colon = line.find(':');
    std::string_view key = line.substr(0, std::min(colon, line.size()));
    if (colon == std::string_view::npos || key.empty() ||
        std::any_of(key.begin(), key.end(), IsSpace)) {
      return InvalidArgumentError(
          fmt::format("{}: unable to parse line '{}', expected 'key: value'", where, line));
    }
    const KeyInfo* info = FindKey(key);
    if (!info) return InvalidArgumentError(fmt::format("{}: unknown key '{}'", where, key));
    if (info->kind == KeyKind::kRejected) {
      return InvalidArgumentError(fmt::format(
          "{}: '{}' is not supported by ctdump ({}); remove the line", where, key, info->why));
    }
    if (info->kind == KeyKind::kIgnored)
      conf.warnings.push_back(fmt::format("{}: '{}': {}", where, key, info->why));
    std::string value(Trim(line.substr(colon + 1)));
    if (key == "exclude-path") {
      Result<std::vector<std::string>> paths = SplitShellWords(value);
      if (!paths.ok()) return paths.status().WithContext(where + ": exclude-path");
      for (std::string& path : *paths) {
        if (path.empty()) {
          return InvalidArgumentError(
              fmt::format("{}: exclude-path: empty path in '{}'", where, value));
        }
        conf.exclude_paths.push_back(std::move(path));
      }
    }
    conf.values.emplace_back(std::string(key), std::move(value));
    conf.lines.push_back(i + 1);
  }
  conf.filename = filename;
  return conf;
}

}  // namespace ctdump
