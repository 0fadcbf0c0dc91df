// libFuzzer target for IdMap::Parse. Input: first byte selects `unprivileged`,
// the rest is split at '\n' into lxc.idmap values (a value may also end in
// '\r' or other whitespace, which the parser must accept or reject cleanly).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ctdump/idmap.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  bool unprivileged = data[0] & 1;
  std::vector<std::string> values;
  std::string current;
  for (size_t i = 1; i < size; ++i) {
    if (data[i] == '\n') {
      values.push_back(current);
      current.clear();
    } else {
      current.push_back(static_cast<char>(data[i]));
    }
  }
  if (!current.empty()) values.push_back(current);
  ctdump::Result<ctdump::IdMap> map = ctdump::IdMap::Parse(values, unprivileged);
  if (!map.ok()) {
    if (map.status().code() != ctdump::Code::kInvalidArgument) __builtin_trap();
    if (map.status().message().empty()) __builtin_trap();
    return 0;
  }
  // Round trip: every entry maps its own range both ways.
  for (const ctdump::IdMapEntry& e : map->entries()) {
    uint32_t last = e.ct_start + (e.count - 1);
    std::optional<uint32_t> host = e.type == 'u' ? map->HostUid(last) : map->HostGid(last);
    if (!host) __builtin_trap();
    std::optional<uint32_t> back = e.type == 'u' ? map->CtUid(*host) : map->CtGid(*host);
    if (!back || *back != last) __builtin_trap();
  }
  (void)map->UidMapText();
  (void)map->GidMapText();
  (void)map->ToString();
  return 0;
}
