// Proxmox "section config" files, e.g. /etc/pve/storage.cfg:
//
//   dir: local
//           path /var/lib/vz
//           content iso,vztmpl,backup
//
//   backup-provider-dir-example: example
//           backup-dir /mnt/backup
//
// One grammar for every such file ctdump reads (storage.cfg, jobs.cfg,
// notifications.cfg and its priv file), PVE::SectionConfig::parse_config's:
//   * lines are split at '\n'; a trailing '\r' (CRLF) is white space;
//   * a line whose first non-blank character is '#' is a comment anywhere and
//     does not end a section;
//   * a section starts with a "<type>: <id>" header at column 0 (no space
//     before the colon, any after it) and continues with indented
//     "key value" lines (value trimmed; a missing value means "1");
//   * a blank or whitespace-only line, or the next header, ends it.
//
// ctdump is stricter than PVE (which warns and skips): these are
// InvalidArgument errors naming the file and line:
//   * a type not matching [A-Za-z][A-Za-z0-9\-_.]*, an id its file's rule
//     rejects (IsPveSectionId unless the caller gives another);
//   * an indented line outside a section, or any other unparsable line;
//   * a key given twice in one section (unless the caller allows it).
// ParseSectionConfig (storage.cfg) also refuses a duplicate id (PVE ids are
// unique across types); the other files' readers check their ids themselves.
#ifndef CTDUMP_SECTION_CONFIG_H_
#define CTDUMP_SECTION_CONFIG_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ctdump/status.h"

namespace ctdump {

struct Section {
  std::string type;
  std::string id;
  std::vector<std::pair<std::string, std::string>> options;  // file order

  // The value of `key` (its first if repeated), or nullopt.
  std::optional<std::string> Get(std::string_view key) const;

  bool operator==(const Section&) const = default;
};

// PVE's parse_boolean, the booleans of every section-config file:
// 1|on|yes|true -> true, 0|off|no|false -> false (any case), else nullopt.
std::optional<bool> ParsePveBool(std::string_view value);

// Sections in file order; the first error (in line order) fails the parse.
Result<std::vector<Section>> ParseSectionConfig(std::string_view text, const std::string& filename);

// PVE's storage and job ids: [A-Za-z][A-Za-z0-9\-_.]*.
bool IsPveSectionId(std::string_view id);

// What differs between the files that use the grammar.
struct SectionConfigOptions {
  // Which section ids are valid. Default: IsPveSectionId.
  bool (*valid_id)(std::string_view id) = IsPveSectionId;
  // Whether `key` may be given more than once in a section of `type` (PVE's
  // array properties, e.g. notifications.cfg's `mailto`); every occurrence is
  // kept, in file order. Default (empty): no key may.
  std::function<bool(std::string_view type, std::string_view key)> repeatable;
  // A key without a value: "1" (PVE::SectionConfig, the default) or an error
  // (proxmox-section-config, with which PVE reads notifications.cfg).
  bool require_value = false;
};

// A section and where it is: 1-based line numbers of its header and of each
// of its options (option_lines[i] is the line of section.options[i]).
struct LocatedSection {
  Section section;
  size_t line = 0;
  std::vector<size_t> option_lines;
};

struct SectionConfigError {
  size_t line = 0;
  // The index in ParsedSectionConfig::sections of the section the line
  // belongs to; nullopt for a line outside any section or a broken header
  // (whose indented lines are skipped without further errors).
  std::optional<size_t> section;
  Status status;  // InvalidArgument "<file>:<line>: <why, with the text>"
};

struct ParsedSectionConfig {
  // File order. A section with an error is here too, without the offending
  // option; a broken header gives no section.
  std::vector<LocatedSection> sections;
  std::vector<SectionConfigError> errors;  // line order
};

// Parses the whole text, collecting every error, for readers that report
// all of them (jobs.cfg) or check more before failing (notifications.cfg).
// Does not check that ids are unique.
ParsedSectionConfig ParseSectionConfigLines(std::string_view text, const std::string& filename,
                                            const SectionConfigOptions& options = {});

}  // namespace ctdump

#endif  // CTDUMP_SECTION_CONFIG_H_
