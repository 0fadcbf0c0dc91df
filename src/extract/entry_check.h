// The pure rules of safe extraction: what an archive member may be called,
// which members are skipped, which owners and ACL entries a target ID map
// can represent, and PVE's checks for untrusted archives.
//
// Everything here is a function of its inputs (no I/O), so it is tested with
// tables and fuzzed (extract_fuzz.cc). The extraction child applies these
// rules to every member *before* libarchive sees it; libarchive's own
// SECURE_* flags and the chroot are further layers, not the first one.
#ifndef CTDUMP_EXTRACT_ENTRY_CHECK_H_
#define CTDUMP_EXTRACT_ENTRY_CHECK_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "ctdump/idmap.h"
#include "ctdump/status.h"

namespace ctdump::extract {

// Normalises a member name to "./a/b": empty and "." components and
// trailing slashes are dropped, "" / "." / "./" become ".". Fails
// (InvalidArgument, the message is the reason only) for absolute names and
// for any ".." component. The result never starts with "/" and never has a
// ".." component, so it cannot name anything outside the extraction root
// without following a symlink.
Result<std::string> NormalizeEntryName(std::string_view name);

// The same rules for a hardlink target; the reason names the target.
Result<std::string> NormalizeHardlinkTarget(std::string_view target);

// "refusing entry '<name>' in '<archive>': <why>".
std::string RefusalMessage(std::string_view name, std::string_view archive, std::string_view why);

// True for members below ./dev (not ./dev itself): a user namespace may not
// mknod, and LXC mounts its own /dev, so PVE extracts with --exclude ./dev/*.
bool IsBelowDev(std::string_view normalized);

// Whether a container-view id can be written in a user namespace with `map`
// (the empty map, a privileged target, is the identity). (uid_t)-1 never can:
// chown() treats it as "leave unchanged".
bool UidRepresentable(const IdMap& map, int64_t uid);
bool GidRepresentable(const IdMap& map, int64_t gid);

// Maps the value of a system.posix_acl_access / posix_acl_default xattr
// (Linux format: le32 version 2, then {le16 tag, le16 perm, le32 id}
// entries) into `map`: named user/group entries whose id `map` cannot
// represent are given to `fallback_uid` / `fallback_gid` (never dropped,
// as owners are) and counted in *fallen_back; entries that then name the
// same id are merged (their permissions or-ed) and entries come out in the
// kernel's order (by tag, then id). nullopt for a malformed value.
std::optional<std::string> FilterPosixAclXattr(std::string_view value, const IdMap& map,
                                               uint32_t fallback_uid, uint32_t fallback_gid,
                                               int* fallen_back);

// name -> id from the text of an /etc/passwd or /etc/group file
// ("name:x:id:..."); malformed lines are skipped, the first of two equal
// names wins (as getpwnam finds it).
using IdDatabase = std::map<std::string, uint32_t, std::less<>>;
IdDatabase ParseIdDatabase(std::string_view text);

// The id of an ACL entry that carries only a name (GNU tar writes names
// into SCHILY.acl.access even with --numeric-owner): a numeric name is the
// id, otherwise `db` (the host's database, which is how PVE's tar resolves
// it, running on the host). nullopt if unknown.
std::optional<uint32_t> ResolveAclName(std::string_view name, const IdDatabase& db);

// PVE's check_tar_archive for tar files from external providers, fed with
// every member libarchive lists (headers only). Messages are PVE's.
class UntrustedArchiveCheck {
 public:
  explicit UntrustedArchiveCheck(std::string archive) : archive_(std::move(archive)) {}

  // `name` as stored, `filetype` as libarchive reports it (S_IFMT bits; 0
  // for a GNU multi-volume continuation 'M', which libarchive leaves
  // untyped), `hardlink` when the member is a hardlink. Fails with "found
  // multi-volume member in archive" for an untyped member.
  Status Add(std::string_view name, mode_t filetype, bool hardlink);

  // After the last member: "no 'sbin' directory (or link) found in archive
  // '<a>'", then "less than 10 members in archive '<a>'".
  Status Finish() const;

  uint64_t members() const { return members_; }

 private:
  std::string archive_;
  uint64_t members_ = 0;
  bool found_sbin_ = false;
};

inline constexpr uint64_t kMinUntrustedMembers = 10;

}  // namespace ctdump::extract

#endif  // CTDUMP_EXTRACT_ENTRY_CHECK_H_
