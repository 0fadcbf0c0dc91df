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

constexpr std::string_view kKnownKeys[] = {"mode",
                                           "storage",
                                           "bwlimit",
                                           "stdexcludes",
                                           "exclude-path",
                                           "tmpdir",
                                           "script",
                                           "lockwait",
                                           "stopwait",
                                           "remove",
                                           "prune-backups",
                                           "notes-template",
                                           "protected",
                                           "compress",
                                           "zstd",
                                           "ionice",
                                           "mailto",
                                           "mailnotification",
                                           "notification-mode",
                                           "performance",
                                           "pigz",
                                           "dumpdir",
                                           "maxfiles",
                                           "node",
                                           "quiet",
                                           "fleecing",
                                           "pbs-change-detection-mode"};

bool IsKnownKey(std::string_view key) {
  return std::find(std::begin(kKnownKeys), std::end(kKnownKeys), key) != std::end(kKnownKeys);
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
    if (!IsKnownKey(key)) {
      return InvalidArgumentError(fmt::format("{}: unknown key '{}'", where, key));
    }
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
  }
  return conf;
}

}  // namespace ctdump
