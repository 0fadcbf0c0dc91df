// Named value formats of parameters (PVE's JSONSchema `format`).
//
// A format is a check on a string value with PVE's error message; the schema
// check reports a failure as "invalid format - <message>". Only the formats
// ctdump's endpoints use are registered. As in PVE, "<name>-list" is a list of
// <name> values separated by ',', ';', NUL or white space (empty lists pass),
// and "<name>-opt" also accepts the empty string.
#ifndef CTDUMP_API_FORMAT_H_
#define CTDUMP_API_FORMAT_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ctdump::api {

// The registered base names, sorted (for tests and documentation):
//   pve-node          a host name label: [a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?
//   pve-storage-id    [a-z][a-z0-9._-]*[a-z0-9] (case-insensitive)
//   pve-configid      [a-z][a-z0-9_-]+ (case-insensitive): job ids (backup-1a2b3c4d-5e6f)
//   pve-vmid          100 .. 999999999
//   ctdump-guest      a container name: letters, digits, '_', '.', '-', not
//                     starting with '.' or '-', at most 64 bytes (ctdump's
//                     {vmid}, which names a container under the lxcpath)
//   email             PVE's e-mail regex
//   email-or-username an e-mail address or a user name without white space
std::vector<std::string_view> FormatNames();

// True if `format` (with an optional -list / -opt suffix) is registered.
bool IsKnownFormat(std::string_view format);

// Checks `value` against `format`: nullopt if it passes, else PVE's message
// ("storage ID 'a b' contains illegal characters\n", with PVE's trailing
// newline). An unknown format is reported as "undefined format '<f>'\n".
std::optional<std::string> CheckFormat(std::string_view format, std::string_view value);

// PVE's split_list: the items of a -list value.
std::vector<std::string_view> SplitList(std::string_view value);

}  // namespace ctdump::api

#endif  // CTDUMP_API_FORMAT_H_
