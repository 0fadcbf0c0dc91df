// Proxmox "section config" files, e.g. /etc/pve/storage.cfg:
//
//   dir: local
//           path /var/lib/vz
//           content iso,vztmpl,backup
//
//   backup-provider-dir-example: example
//           backup-dir /mnt/backup
//
// A section starts with a "<type>: <id>" header at column 0 and continues with
// indented "key value" lines (value optional, meaning "1"). A blank or
// whitespace-only line, or the next header, ends it. Lines whose first
// non-blank character is '#' are comments anywhere.
//
// ctdump is stricter than PVE (which warns and skips): these are
// InvalidArgument errors naming the file and line:
//   * a type or id not matching [A-Za-z][A-Za-z0-9\-_.]*;
//   * a duplicate id (PVE ids are unique across types);
//   * an indented line outside a section, or any other unparsable line;
//   * a key given twice in one section.
#ifndef CTDUMP_SECTION_CONFIG_H_
#define CTDUMP_SECTION_CONFIG_H_

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

  // The value of `key`, or nullopt.
  std::optional<std::string> Get(std::string_view key) const;

  bool operator==(const Section&) const = default;
};

// Sections in file order.
Result<std::vector<Section>> ParseSectionConfig(std::string_view text, const std::string& filename);

}  // namespace ctdump

#endif  // CTDUMP_SECTION_CONFIG_H_
