#include "httpd/confine.h"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "sys/dir_list.h"
#include "sys/file.h"

namespace ctdump::httpd {
namespace {

Status Errno(std::string_view what) {
  return ErrnoError(errno, fmt::format("confining the API proxy: {}", what));
}

}  // namespace

Result<Account> LookUpAccount(const std::string& user) {
  std::vector<char> buf(16384);
  struct passwd pw, *found = nullptr;
  int rc = ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || !found)
    return NotFoundError(fmt::format(
        "the user '{}' for the API proxy does not exist: create it with 'adduser --system "
        "--group --no-create-home {}' (the Debian package does) or name another with "
        "--proxy-user",
        user, user));
  if (pw.pw_uid == 0)
    return InvalidArgumentError(
        fmt::format("the API proxy must not run as '{}': it has uid 0", user));
  return Account{pw.pw_uid, pw.pw_gid};
}

Status PrepareEmptyRoot(const std::string& root) {
  size_t slash = root.rfind('/');
  if (slash != std::string::npos && slash > 0)
    RETURN_IF_ERROR(sys::MakeDirs(root.substr(0, slash)));
  if (::mkdir(root.c_str(), 0555) != 0 && errno != EEXIST)
    return Errno(fmt::format("mkdir '{}'", root));
  struct stat st;
  if (::lstat(root.c_str(), &st) != 0) return Errno(fmt::format("stat '{}'", root));
  if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) != 0)
    return FailedPreconditionError(fmt::format(
        "the API proxy's root '{}' must be a directory owned by root that only root may write",
        root));
  ASSIGN_OR_RETURN(auto entries, sys::ListDirectory(root));
  if (!entries.empty())
    return FailedPreconditionError(fmt::format(
        "the API proxy's root '{}' must be empty (it holds '{}')", root, entries.front().name));
  return Status::OK();
}

Status Confine(const ConfineOptions& o) {
  ASSIGN_OR_RETURN(Account account, LookUpAccount(o.user));
  RETURN_IF_ERROR(PrepareEmptyRoot(o.root));
  if (::chroot(o.root.c_str()) != 0) return Errno(fmt::format("chroot '{}'", o.root));
  if (::chdir("/") != 0) return Errno("chdir /");
  if (::setgroups(0, nullptr) != 0) return Errno("setgroups");
  if (::setresgid(account.gid, account.gid, account.gid) != 0) return Errno("setresgid");
  if (::setresuid(account.uid, account.uid, account.uid) != 0) return Errno("setresuid");
  // No way back: the saved ids are gone too.
  if (::setuid(0) == 0) return InternalError("confining the API proxy: setuid(0) still works");
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Errno("PR_SET_NO_NEW_PRIVS");
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return Errno("PR_SET_DUMPABLE");
  return Status::OK();
}

}  // namespace ctdump::httpd
