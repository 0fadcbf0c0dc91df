// The privileges ctdump checks and the built-in roles (docs/design/api-server.md
// §2.4). Other PVE privilege names in user.cfg's `role:` lines are accepted
// and mean nothing here; built-in roles are never written to user.cfg.
//
//   Administrator         all
//   NoAccess              none (at a level of the ACL walk it clears the rest)
//   PVEAuditor            Sys.Audit VM.Audit Datastore.Audit Mapping.Audit
//   PVEVMUser             VM.Audit VM.Backup
//   PVEDatastoreUser      Datastore.Audit Datastore.AllocateSpace
//   PVEDatastoreAdmin     Datastore.Audit Datastore.AllocateSpace Datastore.Allocate
//   CtdumpBackupOperator  Sys.Audit VM.Audit VM.Backup VM.Allocate Datastore.Audit
//                         Datastore.AllocateSpace
//
// Pure; thread-safe.
#ifndef CTDUMP_ACCESS_ROLES_H_
#define CTDUMP_ACCESS_ROLES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ctdump::access {

enum class Priv : uint8_t {
  kSysAudit,
  kSysModify,
  kVmAudit,
  kVmBackup,
  kVmAllocate,
  kDatastoreAudit,
  kDatastoreAllocateSpace,
  kDatastoreAllocate,
  kMappingAudit,
  kMappingUse,
};
inline constexpr int kPrivCount = 10;

// A set of privileges (a bit per Priv).
class PrivSet {
 public:
  constexpr PrivSet() = default;
  static constexpr PrivSet All() { return PrivSet((1u << kPrivCount) - 1); }

  bool Has(Priv p) const { return (bits_ >> static_cast<int>(p)) & 1u; }
  void Add(Priv p) { bits_ |= 1u << static_cast<int>(p); }
  bool empty() const { return bits_ == 0; }
  uint32_t bits() const { return bits_; }

  PrivSet& operator|=(PrivSet o) {
    bits_ |= o.bits_;
    return *this;
  }
  friend PrivSet operator|(PrivSet a, PrivSet b) { return PrivSet(a.bits_ | b.bits_); }
  friend PrivSet operator&(PrivSet a, PrivSet b) { return PrivSet(a.bits_ & b.bits_); }
  friend bool operator==(PrivSet a, PrivSet b) = default;

 private:
  explicit constexpr PrivSet(uint32_t bits) : bits_(bits) {}
  uint32_t bits_ = 0;
};

// "Sys.Audit", ... as PVE spells them.
std::string_view PrivName(Priv p);
// The Priv of a name ctdump checks; nullopt for other names (PVE's other
// privileges, or garbage).
std::optional<Priv> PrivFromName(std::string_view name);
// Whether `name` looks like a privilege (e.g. "VM.Config.CDROM"):
// [A-Za-z][A-Za-z0-9.]*; user.cfg's role lines accept those.
bool IsPrivilegeName(std::string_view name);
// The names of the privileges in `set`, in Priv order.
std::vector<std::string> PrivNames(PrivSet set);

inline constexpr std::string_view kNoAccessRole = "NoAccess";
inline constexpr std::string_view kAdministratorRole = "Administrator";

// The privileges of a built-in role; nullopt when `role` is not built in.
std::optional<PrivSet> BuiltinRole(std::string_view role);
// The built-in roles' names, in the table's order.
const std::vector<std::string_view>& BuiltinRoleNames();

}  // namespace ctdump::access

#endif  // CTDUMP_ACCESS_ROLES_H_
