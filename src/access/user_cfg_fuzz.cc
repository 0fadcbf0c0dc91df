// libFuzzer target for UserConfig::Parse() and the ACL walk.
//
// Input: a user.cfg text. Checks that Serialize() gives the text back (every
// line kept; the text with a final newline), that every problem names the
// file and a line, that a token added to root@pam and removed again leaves
// the text as it was, and evaluates every user and token on every ACL path
// (root@pam's privileges are always all).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "access/acl.h"
#include "access/user_cfg.h"

namespace {

using ctdump::access::PrivSet;
using ctdump::access::Token;
using ctdump::access::UserConfig;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string text(reinterpret_cast<const char*>(data), size);
  UserConfig cfg = UserConfig::Parse(text, "user.cfg");
  std::string canonical = text;
  if (!canonical.empty() && canonical.back() != '\n') canonical.push_back('\n');
  if (cfg.Serialize() != canonical) __builtin_trap();
  for (const std::string& p : cfg.problems())
    if (p.rfind("user.cfg:", 0) != 0) __builtin_trap();

  for (const auto& entry : cfg.acl()) {
    for (const auto& [id, user] : cfg.users())
      (void)ctdump::access::Permissions(cfg, id, entry.path, 1800000000);
    for (const auto& [id, token] : cfg.tokens())
      (void)ctdump::access::Permissions(cfg, id, entry.path, 1800000000);
    if (ctdump::access::Permissions(cfg, "root@pam", entry.path, 0) != PrivSet::All() &&
        ctdump::access::CheckEnabled(cfg, "root@pam", 0).ok())
      __builtin_trap();
  }

  Token t{"root@pam!fuzz", "root@pam", "fuzz", 0, true, "a: b", 0};
  UserConfig edited = cfg;
  if (edited.AddToken(t).ok()) {
    if (!edited.FindToken("root@pam!fuzz")) __builtin_trap();
    if (!edited.RemoveToken("root@pam!fuzz")) __builtin_trap();
    if (edited.Serialize() != canonical) __builtin_trap();
  }
  return 0;
}
