// /etc/vzdump.conf: defaults for backup jobs, one "key: value" per line
// (PVE's JSONSchema::parse_config). Lines are trimmed; blank lines and lines
// starting with '#' are skipped; the key runs up to the first ':'.
//
// Known keys (pve-backup-provider-api.md §5.4): mode, storage, bwlimit,
// stdexcludes, exclude-path, tmpdir, script, lockwait, stopwait, remove,
// prune-backups, notes-template, protected, compress, zstd, ionice, mailto,
// mailnotification, notification-mode, performance, pigz, dumpdir, maxfiles,
// node, quiet, fleecing, pbs-change-detection-mode. Values are not validated
// here; their consumers do that.
//
// exclude-path may repeat. Each value is split into paths with shell-like
// quoting, as PVE's split_args (Text::ParseWords::shellwords) does; see
// SplitShellWords.
//
// ctdump is stricter than PVE (which warns and skips): an unknown key, a line
// without "key:", unbalanced quotes and empty paths in exclude-path are
// InvalidArgument errors naming the file, line and key.
#ifndef CTDUMP_VZDUMP_CONF_H_
#define CTDUMP_VZDUMP_CONF_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ctdump/status.h"

namespace ctdump {

struct VzdumpConf {
  // Every key/value in file order, duplicates included.
  std::vector<std::pair<std::string, std::string>> values;
  // All exclude-path values, split, in order.
  std::vector<std::string> exclude_paths;

  // The last value given for `key` (later lines override), or nullopt.
  std::optional<std::string> Get(std::string_view key) const;
};

Result<VzdumpConf> ParseVzdumpConf(std::string_view text, const std::string& filename);

// Splits like Perl's Text::ParseWords::shellwords: words separated by
// whitespace; '...' keeps its content literally (a backslash only protects a
// following quote from ending the string, and stays); "..." and unquoted text
// drop a backslash before any character; adjacent pieces join into one word
// (a"b c"d -> "ab cd"). Unbalanced quotes and a trailing lone backslash are
// InvalidArgument (shellwords returns nothing at all there, which would
// silently drop every path). An empty quoted word ("") yields "".
Result<std::vector<std::string>> SplitShellWords(std::string_view text);

}  // namespace ctdump

#endif  // CTDUMP_VZDUMP_CONF_H_
