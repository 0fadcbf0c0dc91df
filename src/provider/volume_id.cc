#include "provider/volume_id.h"

#include <fmt/format.h>

#include <algorithm>

namespace ctdump::provider {

Result<VolumeId> ParseVolumeId(std::string_view volid) {
  size_t colon = volid.find(':');
  std::string_view storage = volid.substr(0, colon);
  auto space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == volid.size() ||
      std::any_of(storage.begin(), storage.end(), space))
    return InvalidArgumentError(
        fmt::format("volume '{}' is not of the form <storage>:<volname>", volid));
  std::string_view volname = volid.substr(colon + 1);
  constexpr std::string_view kPvePrefix = "backup/";
  if (volname.substr(0, kPvePrefix.size()) == kPvePrefix) {
    std::string_view rest = volname.substr(kPvePrefix.size());
    if (rest.substr(0, 7) == "vzdump-" || rest.substr(0, 3) == "ct/") volname = rest;
  }
  return VolumeId{std::string(storage), std::string(volname)};
}

}  // namespace ctdump::provider
