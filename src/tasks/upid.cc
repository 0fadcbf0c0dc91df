#include "tasks/upid.h"

#include <fmt/format.h>
#include <unistd.h>

#include <optional>
#include <vector>

namespace ctdump::tasks {
namespace {

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Perl's \s on bytes, plus every other control character (stricter than PVE).
bool IsFieldChar(char c) {
  auto u = static_cast<unsigned char>(c);
  return c != ':' && c != '/' && c != ' ' && u >= 0x20 && u != 0x7f;
}

std::optional<uint64_t> ParseHex(std::string_view s) {
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    v = v * 16 + static_cast<uint64_t>(d);
  }
  return v;
}

std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {  // also non-ASCII: messages stay valid UTF-8
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

Status CheckField(std::string_view field, std::string_view value, bool may_be_empty) {
  if (value.empty() && !may_be_empty)
    return InvalidArgumentError(fmt::format("{} is empty", field));
  for (char c : value) {
    if (!IsFieldChar(c))
      return InvalidArgumentError(
          fmt::format("{} '{}' contains a character that is not allowed in a UPID (':', '/', "
                      "white space or a control character)",
                      field, Printable(value)));
  }
  return Status::OK();
}

}  // namespace

Status CheckNode(std::string_view node) {
  bool ok = !node.empty() && IsAlnum(node.front()) && IsAlnum(node.back());
  for (char c : node) ok = ok && (IsAlnum(c) || c == '-');
  if (!ok)
    return InvalidArgumentError(
        fmt::format("node name '{}' is not valid (letters, digits and '-', not at either end)",
                    Printable(node)));
  return Status::OK();
}

Status CheckTaskType(std::string_view type) { return CheckField("task type", type, false); }
Status CheckTaskId(std::string_view id) { return CheckField("task id", id, true); }
Status CheckTaskUser(std::string_view user) { return CheckField("task user", user, false); }

Status CheckUpid(const Upid& u) {
  RETURN_IF_ERROR(CheckNode(u.node));
  RETURN_IF_ERROR(CheckTaskType(u.type));
  RETURN_IF_ERROR(CheckTaskId(u.id));
  RETURN_IF_ERROR(CheckTaskUser(u.user));
  if (u.pstart > kMaxPstart)
    return InvalidArgumentError(fmt::format("process start time {} does not fit a UPID", u.pstart));
  if (EncodeUpid(u).size() > kMaxUpidLength)
    return InvalidArgumentError(
        fmt::format("UPID would be longer than {} characters", kMaxUpidLength));
  return Status::OK();
}

std::string EncodeUpid(const Upid& u) {
  return fmt::format("UPID:{}:{:08X}:{:08X}:{:08X}:{}:{}:{}:", u.node, u.pid, u.pstart, u.starttime,
                     u.type, u.id, u.user);
}

Result<Upid> DecodeUpid(std::string_view text) {
  auto bad = [&] {
    return InvalidArgumentError(fmt::format("unable to parse worker upid '{}'",
                                            Printable(text.substr(0, kMaxUpidLength + 1))));
  };
  if (text.size() > kMaxUpidLength || !text.starts_with("UPID:") || !text.ends_with(':'))
    return bad();
  // Eight fields between the colons: node, pid, pstart, starttime, type, id,
  // user, and the empty one after the final colon.
  std::vector<std::string_view> f;
  std::string_view rest = text.substr(5);
  for (size_t pos; (pos = rest.find(':')) != std::string_view::npos;) {
    f.push_back(rest.substr(0, pos));
    rest.remove_prefix(pos + 1);
  }
  if (f.size() != 7 || !rest.empty()) return bad();
  Upid u;
  u.node = f[0];
  if (f[1].size() != 8 || f[2].size() < 8 || f[2].size() > 9 || f[3].size() != 8) return bad();
  auto pid = ParseHex(f[1]), pstart = ParseHex(f[2]), start = ParseHex(f[3]);
  if (!pid || !pstart || !start) return bad();
  u.pid = static_cast<uint32_t>(*pid);
  u.pstart = *pstart;
  u.starttime = static_cast<uint32_t>(*start);
  u.type = f[4];
  u.id = f[5];
  u.user = f[6];
  if (!CheckNode(u.node).ok() || !CheckTaskType(u.type).ok() || !CheckTaskId(u.id).ok() ||
      !CheckTaskUser(u.user).ok())
    return bad();
  return u;
}

std::string TaskIdFor(std::string_view name) {
  return !name.empty() && CheckTaskId(name).ok() ? std::string(name) : std::string();
}

std::string ShortHostname() {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  std::string name = host;
  return name.substr(0, name.find('.'));
}

}  // namespace ctdump::tasks
