// libFuzzer target for ticket and CSRF token verification and the key file
// parser.
//
// Input: a candidate ticket; also read as a CSRF token and as an authkey.key
// text. Checks that verification never accepts anything but what Issue made
// (a ticket that verifies must be the one issued for its user at its time),
// and that a parsed key file serializes to a text that parses to the same
// keys.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "access/ticket.h"

namespace {

using ctdump::access::AuthKey;
using ctdump::access::CsrfKey;
using ctdump::access::TicketKeys;

constexpr int64_t kNow = 1800000000;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  std::string in(reinterpret_cast<const char*>(data), size);
  static const TicketKeys keys(AuthKey{kNow, std::string(32, 'a')},
                               AuthKey{kNow - 86400, std::string(32, 'b')});
  auto user = keys.Verify(in, kNow);
  if (user.ok()) {
    // Only an exact ticket of one of the two keys verifies; re-issuing with
    // the current key must give the same text or the previous key signed it.
    size_t colon = in.rfind("::");
    std::string hex = in.substr(colon - 8, 8);
    int64_t t = std::stoll(hex, nullptr, 16);
    TicketKeys previous(*keys.previous(), std::nullopt);
    if (keys.Issue(*user, t) != in && previous.Issue(*user, t) != in) __builtin_trap();
  }
  static const CsrfKey csrf(std::string(32, 'c'));
  if (csrf.Verify(in, "root@pam", kNow)) {
    int64_t t = std::stoll(in.substr(0, 8), nullptr, 16);
    if (csrf.Issue("root@pam", t) != in) __builtin_trap();
  }
  auto parsed = TicketKeys::Parse(in, "authkey.key");
  if (parsed.ok()) {
    auto again = TicketKeys::Parse(parsed->Serialize(), "authkey.key");
    if (!again.ok() || again->Serialize() != parsed->Serialize()) __builtin_trap();
  }
  return 0;
}
