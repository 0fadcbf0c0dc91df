#include "access/roles.h"

#include <array>
#include <utility>

namespace ctdump::access {
namespace {

constexpr std::array<std::string_view, kPrivCount> kNames = {
    "Sys.Audit",
    "Sys.Modify",
    "VM.Audit",
    "VM.Backup",
    "VM.Allocate",
    "Datastore.Audit",
    "Datastore.AllocateSpace",
    "Datastore.Allocate",
    "Mapping.Audit",
    "Mapping.Use",
};

PrivSet Of(std::initializer_list<Priv> privs) {
  PrivSet s;
  for (Priv p : privs) s.Add(p);
  return s;
}

const std::vector<std::pair<std::string_view, PrivSet>>& Builtins() {
  static const auto* roles = new std::vector<std::pair<std::string_view, PrivSet>>{
      {kAdministratorRole, PrivSet::All()},
      {kNoAccessRole, PrivSet()},
      {"PVEAuditor",
       Of({Priv::kSysAudit, Priv::kVmAudit, Priv::kDatastoreAudit, Priv::kMappingAudit})},
      {"PVEVMUser", Of({Priv::kVmAudit, Priv::kVmBackup})},
      {"PVEDatastoreUser", Of({Priv::kDatastoreAudit, Priv::kDatastoreAllocateSpace})},
      {"PVEDatastoreAdmin",
       Of({Priv::kDatastoreAudit, Priv::kDatastoreAllocateSpace, Priv::kDatastoreAllocate})},
      {"CtdumpBackupOperator",
       Of({Priv::kSysAudit, Priv::kVmAudit, Priv::kVmBackup, Priv::kVmAllocate,
           Priv::kDatastoreAudit, Priv::kDatastoreAllocateSpace})},
  };
  return *roles;
}

}  // namespace

std::string_view PrivName(Priv p) { return kNames[static_cast<size_t>(p)]; }

std::optional<Priv> PrivFromName(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i)
    if (kNames[i] == name) return static_cast<Priv>(i);
  return std::nullopt;
}

bool IsPrivilegeName(std::string_view name) {
  if (name.empty()) return false;
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
  if (!alpha(name[0])) return false;
  for (char c : name)
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '.') return false;
  return true;
}

std::vector<std::string> PrivNames(PrivSet set) {
  std::vector<std::string> out;
  for (int i = 0; i < kPrivCount; ++i)
    if (set.Has(static_cast<Priv>(i))) out.emplace_back(kNames[i]);
  return out;
}

std::optional<PrivSet> BuiltinRole(std::string_view role) {
  for (const auto& [name, privs] : Builtins())
    if (name == role) return privs;
  return std::nullopt;
}

const std::vector<std::string_view>& BuiltinRoleNames() {
  static const auto* names = [] {
    auto* v = new std::vector<std::string_view>;
    for (const auto& r : Builtins()) v->push_back(r.first);
    return v;
  }();
  return *names;
}

}  // namespace ctdump::access
