// `<config-dir>/priv/token.shadow`: the hashes of API token secrets, one line
// per token (PBS's choice: a leaked file does not give the tokens away):
//
//   <userid>!<name> sha256:<64 lowercase hex digits>
//
// The secret is a random UUIDv4 (122 bits), so a plain SHA-256 suffices (no
// password-grade hash is needed against guessing); the comparison is
// constant-time. The file is 0600 and replaced atomically (token_admin.h).
// A line that does not parse is reported as "<file>:<line>: <why>" and kept
// unchanged on write-back. A TokenShadow is a value; const methods are
// thread-safe.
#ifndef CTDUMP_ACCESS_TOKEN_SHADOW_H_
#define CTDUMP_ACCESS_TOKEN_SHADOW_H_

#include <string>
#include <string_view>
#include <vector>

#include "ctdump/status.h"

namespace ctdump::access {

class TokenShadow {
 public:
  static TokenShadow Parse(std::string_view text, std::string_view file);
  // A missing file is an empty shadow.
  static Result<TokenShadow> Load(const std::string& path);

  const std::vector<std::string>& problems() const { return problems_; }

  // Sets the hash of `tokenid`'s secret (replacing an old one).
  void Set(std::string_view tokenid, std::string_view secret);
  // Removes the token's line; false when there is none.
  bool Remove(std::string_view tokenid);
  bool Has(std::string_view tokenid) const;
  // Whether `secret` is `tokenid`'s (constant-time in the secret).
  bool Verify(std::string_view tokenid, std::string_view secret) const;

  std::string Serialize() const;

 private:
  struct Line {
    std::string tokenid;  // empty: a line kept as it was
    std::string text;
  };
  const Line* Find(std::string_view tokenid) const;

  std::vector<Line> lines_;
  std::vector<std::string> problems_;
};

// "sha256:<hex>" of `secret`.
std::string HashTokenSecret(std::string_view secret);

}  // namespace ctdump::access

#endif  // CTDUMP_ACCESS_TOKEN_SHADOW_H_
