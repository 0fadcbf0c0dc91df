#include "access/pam_auth.h"

#include <fmt/format.h>
#include <security/pam_appl.h>

#include <cstdlib>
#include <cstring>

namespace ctdump::access {
namespace {

// Answers every prompt (echo on or off) with the password; informational
// and error messages get no answer.
int Converse(int n, const struct pam_message** msg, struct pam_response** resp, void* data) {
  if (n <= 0 || n > PAM_MAX_NUM_MSG) return PAM_CONV_ERR;
  const auto* password = static_cast<const std::string*>(data);
  auto* replies = static_cast<pam_response*>(std::calloc(n, sizeof(pam_response)));
  if (replies == nullptr) return PAM_BUF_ERR;
  for (int i = 0; i < n; ++i) {
    int style = msg[i]->msg_style;
    if (style != PAM_PROMPT_ECHO_OFF && style != PAM_PROMPT_ECHO_ON) continue;
    replies[i].resp = ::strdup(password->c_str());
    if (replies[i].resp == nullptr) {
      for (int k = 0; k < i; ++k) {
        if (replies[k].resp != nullptr) {
          explicit_bzero(replies[k].resp, std::strlen(replies[k].resp));
          std::free(replies[k].resp);
        }
      }
      std::free(replies);
      return PAM_BUF_ERR;
    }
  }
  *resp = replies;
  return PAM_SUCCESS;
}

}  // namespace

Status PamAuthenticate(const PamRequest& r) {
  if (r.password.empty()) return PermissionDeniedError("pam: empty password");
  if (r.user.empty()) return PermissionDeniedError("pam: empty user name");
  struct pam_conv conv = {Converse, const_cast<std::string*>(&r.password)};
  pam_handle_t* pamh = nullptr;
  int rc = pam_start(r.service.c_str(), r.user.c_str(), &conv, &pamh);
  if (rc != PAM_SUCCESS || pamh == nullptr)
    return InternalError(fmt::format("pam_start(\"{}\") failed: {}", r.service, rc));
  if (!r.rhost.empty()) rc = pam_set_item(pamh, PAM_RHOST, r.rhost.c_str());
  if (rc == PAM_SUCCESS) rc = pam_authenticate(pamh, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
  if (rc == PAM_SUCCESS) rc = pam_acct_mgmt(pamh, PAM_SILENT);
  std::string why = rc == PAM_SUCCESS ? "" : pam_strerror(pamh, rc);
  pam_end(pamh, rc);
  if (rc != PAM_SUCCESS) return PermissionDeniedError(fmt::format("pam: {}", why));
  return Status::OK();
}

}  // namespace ctdump::access
