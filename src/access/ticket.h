// Tickets and CSRF prevention tokens (docs/design/api-server.md §2.2), in
// PVE's shapes (docs/design/pve-api-facts.md §2) with HMAC-SHA256 signatures:
//
//   ticket  PVE:<userid>:<HEX8 epoch>::<base64(HMAC-SHA256(key, "PVE:<userid>:<HEX8>"))>
//   CSRF    <HEX8 epoch>:<base64 without padding(HMAC-SHA256(csrf key, "<HEX8>:<userid>"))>
//
// HEX8 is the issue time in 8 uppercase hex digits. Both are accepted for an
// age of -300 ... 7200 s (2 h lifetime, 5 min of clock skew).
//
// Keys. `<config-dir>/priv/authkey.key` (0600, priv/ 0700) holds two lines
// "<created epoch> <base64 of 32 random bytes>", the current key then the
// previous one. TicketKeys::Rotate makes a new current key when the current
// one is older than 24 h; tickets verify against either key, and as a ticket
// lives 2 h the previous key always suffices. `priv/csrf.key` holds one
// static key line (base64 of 32 bytes), as PVE's pve-www.key. Files are
// created and replaced atomically under a flock on "<file>.lock", so two
// processes never make two different keys.
//
// Verification takes `now` (Unix seconds) so tests need no clock; failures
// say why for logs (never for clients) and never contain a key or signature.
// Key objects are values; const methods are thread-safe.
#ifndef CTDUMP_ACCESS_TICKET_H_
#define CTDUMP_ACCESS_TICKET_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ctdump/status.h"

namespace ctdump::access {

inline constexpr int64_t kTicketLifetime = 7200;        // s
inline constexpr int64_t kTicketGracePeriod = 300;      // s of clock skew
inline constexpr int64_t kAuthKeyLifetime = 24 * 3600;  // s, then Rotate
inline constexpr size_t kAuthKeySize = 32;

struct AuthKey {
  int64_t created = 0;  // Unix seconds
  std::string key;      // kAuthKeySize bytes
};

class TicketKeys {
 public:
  // From keys in memory (tests).
  TicketKeys(AuthKey current, std::optional<AuthKey> previous)
      : current_(std::move(current)), previous_(std::move(previous)) {}

  // Reads `path` (authkey.key), creating it (and its directory, 0700) with a
  // fresh key made at `now` when missing. Errors name the file and line.
  static Result<TicketKeys> LoadOrCreate(const std::string& path, int64_t now);
  // Parses the file's text; `file` names it in errors.
  static Result<TicketKeys> Parse(std::string_view text, std::string_view file);
  std::string Serialize() const;

  // When the current key is older than kAuthKeyLifetime at `now`: the
  // current becomes the previous, a new current is made and `path` is
  // replaced atomically (re-read under the lock first: another process may
  // have rotated already). Returns whether the keys changed.
  Result<bool> RotateIfDue(const std::string& path, int64_t now);

  // A ticket for `userid` (a valid user id, not a token) issued at `now`.
  std::string Issue(std::string_view userid, int64_t now) const;
  // The ticket's user id if it is well-formed, signed by the current or the
  // previous key and of an age within -300 ... 7200 s at `now`;
  // PermissionDenied naming what was wrong otherwise.
  Result<std::string> Verify(std::string_view ticket, int64_t now) const;

  const AuthKey& current() const { return current_; }
  const std::optional<AuthKey>& previous() const { return previous_; }

 private:
  AuthKey current_;
  std::optional<AuthKey> previous_;
};

class CsrfKey {
 public:
  explicit CsrfKey(std::string key) : key_(std::move(key)) {}
  // Reads `path` (csrf.key), creating it with a random key when missing.
  static Result<CsrfKey> LoadOrCreate(const std::string& path);

  // The token for `userid` issued at `now` (43 characters after "HEX8:").
  std::string Issue(std::string_view userid, int64_t now) const;
  // Whether `token` was issued for `userid` with this key and its age is
  // within -300 ... 7200 s at `now`.
  bool Verify(std::string_view token, std::string_view userid, int64_t now) const;

 private:
  std::string key_;
};

// "65A1B2C3": 8 uppercase hex digits (the low 32 bits of `t`).
std::string Hex8(int64_t t);

}  // namespace ctdump::access

#endif  // CTDUMP_ACCESS_TICKET_H_
