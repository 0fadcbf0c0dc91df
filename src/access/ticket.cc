#include "access/ticket.h"

#include <fmt/format.h>

#include <chrono>
#include <vector>

#include "access/lines.h"
#include "access/random.h"
#include "access/userid.h"
#include "base/base64.h"
#include "crypt/crypt.h"
#include "sys/file.h"
#include "sys/lock_file.h"

namespace ctdump::access {
namespace {

constexpr size_t kMaxKeyFile = 4096;
constexpr std::chrono::seconds kLockWait{10};

std::string Mac(std::string_view key, std::string_view data, bool pad) {
  crypt::Digest d = crypt::HmacSha256(key, data);
  return Base64Encode(
      std::string_view(reinterpret_cast<const char*>(d.bytes.data()), d.bytes.size()), pad);
}

std::optional<int64_t> ParseHex8(std::string_view s) {
  if (s.size() != 8) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
    if (d < 0) return std::nullopt;
    v = v * 16 + d;
  }
  return v;
}

bool AgeOk(int64_t issued, int64_t now) {
  int64_t age = now - issued;
  return age >= -kTicketGracePeriod && age <= kTicketLifetime;
}

bool HasSpace(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return true;
  return false;
}

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

Result<sys::LockFile> LockFor(const std::string& path) {
  RETURN_IF_ERROR(sys::MakeDirs(DirOf(path), 0700));
  return sys::LockFile::Acquire(path + ".lock", kLockWait, [](const std::string&) {});
}

Result<AuthKey> NewAuthKey(int64_t now) {
  ASSIGN_OR_RETURN(std::string key, RandomBytes(kAuthKeySize));
  return AuthKey{now, std::move(key)};
}

Result<AuthKey> ParseKeyLine(std::string_view line, std::string_view file, int n) {
  auto bad = [&](std::string_view why) {
    return DataLossError(fmt::format("{}:{}: {}", file, n, why));
  };
  size_t space = line.find(' ');
  if (space == std::string_view::npos) return bad("not of the form '<created> <base64 key>'");
  AuthKey k;
  std::string_view created = line.substr(0, space);
  if (created.empty() || created.size() > 18) return bad("invalid creation time");
  for (char c : created) {
    if (c < '0' || c > '9') return bad("invalid creation time");
    k.created = k.created * 10 + (c - '0');
  }
  std::optional<std::string> key = Base64Decode(line.substr(space + 1));
  if (!key || key->size() != kAuthKeySize) return bad("the key is not base64 of 32 bytes");
  k.key = std::move(*key);
  return k;
}

}  // namespace

std::string Hex8(int64_t t) { return fmt::format("{:08X}", static_cast<uint32_t>(t)); }

Result<TicketKeys> TicketKeys::Parse(std::string_view text, std::string_view file) {
  std::vector<AuthKey> keys;
  int n = 0;
  for (std::string_view line : SplitLines(text)) {
    ++n;
    if (line.empty()) continue;
    if (keys.size() == 2) return DataLossError(fmt::format("{}:{}: more than two keys", file, n));
    ASSIGN_OR_RETURN(AuthKey k, ParseKeyLine(line, file, n));
    keys.push_back(std::move(k));
  }
  if (keys.empty()) return DataLossError(fmt::format("{}: no key", file));
  std::optional<AuthKey> previous;
  if (keys.size() == 2) previous = std::move(keys[1]);
  return TicketKeys(std::move(keys[0]), std::move(previous));
}

std::string TicketKeys::Serialize() const {
  std::string out = fmt::format("{} {}\n", current_.created, Base64Encode(current_.key));
  if (previous_) out += fmt::format("{} {}\n", previous_->created, Base64Encode(previous_->key));
  return out;
}

Result<TicketKeys> TicketKeys::LoadOrCreate(const std::string& path, int64_t now) {
  if (sys::PathExists(path)) {
    ASSIGN_OR_RETURN(std::string text, sys::ReadRegularFile(path, kMaxKeyFile));
    return Parse(text, path);
  }
  ASSIGN_OR_RETURN(sys::LockFile lock, LockFor(path));
  if (sys::PathExists(path)) {  // made by another process meanwhile
    ASSIGN_OR_RETURN(std::string text, sys::ReadRegularFile(path, kMaxKeyFile));
    return Parse(text, path);
  }
  ASSIGN_OR_RETURN(AuthKey key, NewAuthKey(now));
  TicketKeys keys(std::move(key), std::nullopt);
  RETURN_IF_ERROR(sys::WriteFileAtomic(path, keys.Serialize(), 0600));
  return keys;
}

Result<bool> TicketKeys::RotateIfDue(const std::string& path, int64_t now) {
  if (now - current_.created <= kAuthKeyLifetime) return false;
  ASSIGN_OR_RETURN(sys::LockFile lock, LockFor(path));
  if (sys::PathExists(path)) {
    ASSIGN_OR_RETURN(std::string text, sys::ReadRegularFile(path, kMaxKeyFile));
    ASSIGN_OR_RETURN(TicketKeys on_disk, Parse(text, path));
    if (now - on_disk.current_.created <= kAuthKeyLifetime) {  // rotated by another process
      *this = std::move(on_disk);
      return true;
    }
  }
  ASSIGN_OR_RETURN(AuthKey key, NewAuthKey(now));
  TicketKeys next(std::move(key), current_);
  RETURN_IF_ERROR(sys::WriteFileAtomic(path, next.Serialize(), 0600));
  *this = std::move(next);
  return true;
}

std::string TicketKeys::Issue(std::string_view userid, int64_t now) const {
  std::string plain = fmt::format("PVE:{}:{}", userid, Hex8(now));
  return fmt::format("{}::{}", plain, Mac(current_.key, plain, true));
}

Result<std::string> TicketKeys::Verify(std::string_view ticket, int64_t now) const {
  auto fail = [](std::string_view why) {
    return PermissionDeniedError(fmt::format("invalid ticket: {}", why));
  };
  // PVE: ^(PVE:\S+)::([^:\s]+)$, then ^PVE:(?:(\S+):)?([A-Z0-9]{8})$.
  if (HasSpace(ticket) || !ticket.starts_with("PVE:")) return fail("malformed");
  size_t sep = ticket.rfind("::");
  if (sep == std::string_view::npos || sep < 4) return fail("malformed");
  std::string_view plain = ticket.substr(0, sep), sig = ticket.substr(sep + 2);
  if (sig.empty() || sig.find(':') != std::string_view::npos) return fail("malformed");
  size_t colon = plain.rfind(':');
  if (colon <= 3) return fail("no user");
  std::optional<int64_t> issued = ParseHex8(plain.substr(colon + 1));
  if (!issued) return fail("malformed time");
  std::string_view userid = plain.substr(4, colon - 4);
  Result<UserId> user = ParseUserId(userid);
  if (!user.ok()) return fail("invalid user id");
  bool signed_ok = crypt::ConstantTimeEqual(sig, Mac(current_.key, plain, true));
  if (!signed_ok && previous_)
    signed_ok = crypt::ConstantTimeEqual(sig, Mac(previous_->key, plain, true));
  if (!signed_ok) return fail("bad signature");
  if (!AgeOk(*issued, now)) return fail(now < *issued ? "issued in the future" : "expired");
  return user->full;
}

Result<CsrfKey> CsrfKey::LoadOrCreate(const std::string& path) {
  auto parse = [&path](const std::string& text) -> Result<CsrfKey> {
    std::string_view t = text;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.remove_suffix(1);
    std::optional<std::string> key = Base64Decode(t);
    if (!key || key->size() != kAuthKeySize)
      return DataLossError(fmt::format("{}:1: the key is not base64 of 32 bytes", path));
    return CsrfKey(std::move(*key));
  };
  if (!sys::PathExists(path)) {
    ASSIGN_OR_RETURN(sys::LockFile lock, LockFor(path));
    if (!sys::PathExists(path)) {
      ASSIGN_OR_RETURN(std::string key, RandomBytes(kAuthKeySize));
      RETURN_IF_ERROR(sys::WriteFileAtomic(path, Base64Encode(key) + "\n", 0600));
      return CsrfKey(std::move(key));
    }
  }
  ASSIGN_OR_RETURN(std::string text, sys::ReadRegularFile(path, kMaxKeyFile));
  return parse(text);
}

std::string CsrfKey::Issue(std::string_view userid, int64_t now) const {
  std::string hex = Hex8(now);
  return fmt::format("{}:{}", hex, Mac(key_, fmt::format("{}:{}", hex, userid), false));
}

bool CsrfKey::Verify(std::string_view token, std::string_view userid, int64_t now) const {
  if (token.size() < 10 || token[8] != ':' || HasSpace(token)) return false;
  std::optional<int64_t> issued = ParseHex8(token.substr(0, 8));
  if (!issued) return false;
  std::string expected = Mac(key_, fmt::format("{}:{}", token.substr(0, 8), userid), false);
  return crypt::ConstantTimeEqual(token.substr(9), expected) && AgeOk(*issued, now);
}

}  // namespace ctdump::access
