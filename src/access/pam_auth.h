// The `pam` realm's password check (docs/design/api-server.md §2.1):
// pam_start(service, user) with a conversation that answers every prompt
// with the password, PAM_RHOST set to the client's address,
// pam_authenticate(PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK), then
// pam_acct_mgmt(PAM_SILENT) (an expired or locked account fails). An empty
// password is refused before PAM is asked (Debian's pam_unix has `nullok`).
//
// PAM modules may block (pam_unix's failure delay of ~2 s), change signal
// dispositions or leak descriptors: the API server runs this in its own
// helper process (`ctdump __pam-auth`). Not thread-safe in general (PAM
// modules are not required to be).
#ifndef CTDUMP_ACCESS_PAM_AUTH_H_
#define CTDUMP_ACCESS_PAM_AUTH_H_

#include <string>

#include "ctdump/status.h"

namespace ctdump::access {

inline constexpr char kPamService[] = "ctdump";  // /etc/pam.d/ctdump

struct PamRequest {
  std::string service = kPamService;
  std::string user;      // the Linux user name (USER of USER@pam)
  std::string password;  // never logged, never in an error
  std::string rhost;     // the client's address, for PAM_RHOST (may be empty)
};

// OK when PAM accepts the password and the account; PermissionDenied
// "pam: <PAM's reason>" otherwise (for the audit log and the journal, never
// for the client); Internal when PAM cannot start.
Status PamAuthenticate(const PamRequest& request);

}  // namespace ctdump::access

#endif  // CTDUMP_ACCESS_PAM_AUTH_H_
