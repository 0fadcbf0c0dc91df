// /etc/vzdump.conf: defaults for backup jobs, one "key: value" per line
// (PVE's JSONSchema::parse_config). Lines are trimmed; blank lines and lines
// starting with '#' are skipped; the key runs up to the first ':'.
//
// Keys (PVE's vzdump.conf schema, plus `node`) fall in three groups:
//  - implemented: mode, storage, dumpdir, bwlimit, stdexcludes, exclude-path,
//    tmpdir, script, lockwait, stopwait, remove, prune-backups, maxfiles,
//    notes-template, protected, compress, zstd, ionice, quiet, node, mailto,
//    mailnotification, notification-mode. Their values are not validated
//    here; the job options and the job's notification do that (naming the
//    line: VzdumpConf::Where).
//  - deprecated by PVE 8.2, accepted with a warning naming file and line:
//    notification-target, notification-policy.
//  - rejected with an error naming file, line, key and why: pigz,
//    performance, fleecing, pbs-change-detection-mode, pool.
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
  // The line number of each entry of `values`.
  std::vector<size_t> lines;
  // All exclude-path values, split, in order.
  std::vector<std::string> exclude_paths;
  // "<file>:<line>: '<key>': ..." for each accepted key that ctdump ignores.
  std::vector<std::string> warnings;
  std::string filename;

  // "<file>:<line>" of the value Get(key) returns ("<file>" without one).
  std::string Where(std::string_view key) const;
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
