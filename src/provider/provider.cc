#include "ctdump/provider.h"

namespace ctdump {

nlohmann::json BackupInfo::ToJson() const {
  nlohmann::json j = {{"directory", directory},
                      {"sources", sources},
                      {"backup-user-id", backup_user_id},
                      {"firewall-config", firewall_config}};
  if (bandwidth_limit) j["bandwidth-limit"] = *bandwidth_limit;
  return j;
}

const char* RestoreMechanismName(RestoreMechanism m) {
  return m == RestoreMechanism::kTar ? "tar" : "directory";
}

bool IsValidArchiveName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '+' || c == '=' || c == '_' || c == '/' || c == ':';
    if (!ok) return false;
  }
  return true;
}

}  // namespace ctdump
