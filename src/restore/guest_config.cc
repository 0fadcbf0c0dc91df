#include "restore/guest_config.h"

#include <fmt/format.h>

#include <set>
#include <sstream>
#include <string_view>

namespace ctdump::restore {
namespace {

constexpr std::string_view kLxcConfigDir = "/usr/share/lxc/config/";

struct Line {
  std::string key;  // empty for comments / blank lines / lines without a key
  std::string value;
  std::string text;  // original line
};

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

bool IsComment(const Line& l) {
  std::string t = Trim(l.text);
  return t.empty() || t[0] == '#';
}

// Splits into lines; in pct syntax the first "[section]" ends the main part.
std::vector<Line> SplitLines(const std::string& raw, bool pct) {
  std::vector<Line> out;
  std::istringstream in(raw);
  std::string l;
  while (std::getline(in, l)) {
    Line line{"", "", l};
    std::string t = Trim(l);
    if (pct && !t.empty() && t[0] == '[') break;
    if (!t.empty() && t[0] != '#') {
      size_t eq = t.find('='), colon = t.find(':');
      bool lxc_eq = t.rfind("lxc.", 0) == 0 && eq != std::string::npos &&
                    (colon == std::string::npos || eq < colon);
      size_t sep = lxc_eq ? eq : colon;
      if (sep != std::string::npos) {
        line.key = Trim(t.substr(0, sep));
        line.value = Trim(t.substr(sep + 1));
      }
    }
    out.push_back(line);
  }
  return out;
}

bool LooksLikePct(const std::string& raw) {
  for (const auto& l : SplitLines(raw, false)) {
    if (l.key.empty()) continue;
    if (l.key.rfind("lxc.", 0) == 0 && l.text.find('=') != std::string::npos &&
        (l.text.find(':') == std::string::npos || l.text.find('=') < l.text.find(':')))
      return false;
    return true;
  }
  return false;
}

bool AllOf(std::string_view s, std::string_view chars) {
  return !s.empty() && s.find_first_not_of(chars) == std::string_view::npos;
}

constexpr std::string_view kDigits = "0123456789";
constexpr std::string_view kLower = "abcdefghijklmnopqrstuvwxyz0123456789";

// "prefix" followed by digits only.
bool Numbered(std::string_view k, std::string_view prefix) {
  return k.starts_with(prefix) && AllOf(k.substr(prefix.size()), kDigits);
}

bool SkippedPctKey(const std::string& k) {
  static const char* kSkip[] = {"digest",   "rootfs", "snapshots", "unprivileged", "parent",
                                "template", "lock",   "snaptime",  "snapstate"};
  for (const char* s : kSkip)
    if (k == s) return true;
  return Numbered(k, "mp") || Numbered(k, "unused");
}

// "lxc.net.<N>." for a key of network N, else "".
std::string NetPrefix(std::string_view key) {
  if (!key.starts_with("lxc.net.")) return "";
  size_t dot = key.find('.', 8);
  if (dot == std::string_view::npos || !AllOf(key.substr(8, dot - 8), kDigits)) return "";
  return std::string(key.substr(0, dot + 1));
}

// A cgroup resource limit: lxc.cgroup[2].<controller>.<file> of a controller
// that only limits the container (not devices: that grants host devices),
// the file a plain name inside the container's own cgroup. Of cpuset only
// the CPU and memory-node lists: a partition root or exclusive CPUs would
// take CPUs away from the host.
bool IsResourceLimit(std::string_view key) {
  for (std::string_view p : {"lxc.cgroup2.", "lxc.cgroup."}) {
    if (!key.starts_with(p)) continue;
    std::string_view file = key.substr(p.size());
    if (file == "cpuset.cpus" || file == "cpuset.mems") return true;
    static constexpr std::string_view kControllers[] = {"memory.", "cpu.",   "pids.",
                                                        "io.",     "blkio.", "hugetlb."};
    for (std::string_view c : kControllers)
      if (file.starts_with(c) && file.size() > c.size() &&
          AllOf(file, "abcdefghijklmnopqrstuvwxyz0123456789_.") &&
          file.find("..") == std::string_view::npos)
        return true;
    return false;
  }
  return false;
}

// lxc.include of one of the host's own LXC base configs
// (/usr/share/lxc/config/[<distro>.]common.conf or userns.conf): the name
// has no '/' and so cannot lead anywhere else.
bool IsBaseConfigInclude(std::string_view value) {
  if (!value.starts_with(kLxcConfigDir)) return false;
  std::string_view name = value.substr(kLxcConfigDir.size());
  for (std::string_view base : {"common.conf", "userns.conf"}) {
    if (name == base) return true;
    if (name.ends_with(base) && name.size() > base.size() + 1 &&
        name[name.size() - base.size() - 1] == '.' &&
        AllOf(name.substr(0, name.size() - base.size() - 1), kLower))
      return true;
  }
  return false;
}

bool IsRestorableNetKey(std::string_view key, std::string_view value) {
  std::string net = NetPrefix(key);
  if (net.empty()) return false;
  std::string_view sub = key.substr(net.size());
  // Only a veth pair (one end on a host bridge) or no network at all: "none"
  // would share the host's network namespace, "phys" moves a host NIC in,
  // macvlan/ipvlan/vlan sit on host NICs.
  if (sub == "type") return value == "veth" || value == "empty";
  if (sub == "flags") return value == "up";
  static constexpr std::string_view kKeys[] = {"link",         "name",         "hwaddr",
                                               "mtu",          "ipv4.address", "ipv4.gateway",
                                               "ipv6.address", "ipv6.gateway"};
  for (std::string_view k : kKeys)
    if (sub == k) return true;
  return false;
}

// The hwaddr= of a pct netN value ("name=eth0,bridge=vmbr0,hwaddr=...").
std::string ReplaceHwaddr(const std::string& value, const std::function<std::string()>& mac) {
  std::string out;
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t comma = value.find(',', pos);
    if (comma == std::string::npos) comma = value.size();
    std::string part = value.substr(pos, comma - pos);
    if (part.rfind("hwaddr=", 0) == 0) part = "hwaddr=" + mac();
    out += (pos == 0 ? "" : ",") + part;
    pos = comma + 1;
  }
  return out;
}

std::string IdmapLines(const IdMap& map, const char* sep) {
  std::string out;
  for (const auto& e : map.entries())
    out += fmt::format("lxc.idmap{}{} {} {} {}\n", sep, e.type, e.ct_start, e.host_start, e.count);
  return out;
}

std::string Header(const RestoreTarget& t) {
  return fmt::format("# restored by ctdump from {}\n", t.source_volid);
}

bool IsRegeneratedInclude(const Line& l) {
  return l.key == "lxc.include" && (l.value == std::string(kLxcConfigDir) + "common.conf" ||
                                    l.value == std::string(kLxcConfigDir) + "userns.conf");
}

// Networks whose type is not restorable: all their keys go (a network
// without its type would only keep the container from starting).
std::set<std::string> BadNetworks(const std::vector<Line>& lines) {
  std::set<std::string> bad;
  for (const auto& l : lines) {
    std::string net = NetPrefix(l.key);
    if (!net.empty() && l.key == net + "type" && !IsRestorableNetKey(l.key, l.value))
      bad.insert(net);
  }
  return bad;
}

class Adapter {
 public:
  Adapter(const std::string& raw, bool pct, const RestoreTarget& t)
      : lines_(SplitLines(raw, pct)), bad_nets_(BadNetworks(lines_)), t_(t) {}

  RestoredConfig Lxc();
  RestoredConfig Pct();

 private:
  // Whether a raw LXC line of the backup is kept; records what is dropped.
  bool KeepLxc(const Line& l, const char* sep) {
    if (IsRegeneratedLxcKey(l.key) || IsRegeneratedInclude(l)) return false;
    if (!IsRestorableLxcKey(l.key, l.value) || bad_nets_.contains(NetPrefix(l.key))) {
      Drop(fmt::format("{}{}{}", l.key, sep, l.value));
      return false;
    }
    return true;
  }
  void Drop(std::string what) { r_.dropped.push_back(std::move(what)); }

  std::vector<Line> lines_;
  std::set<std::string> bad_nets_;
  const RestoreTarget& t_;
  RestoredConfig r_;
};

RestoredConfig Adapter::Lxc() {
  std::string out = Header(t_);
  // LXC's base config first, as a pct-generated config has it: its device
  // rules and dropped capabilities are not the backup's to leave out.
  out += fmt::format("lxc.include = {}common.conf\n", kLxcConfigDir);
  for (const auto& l : lines_) {
    if (IsComment(l)) {
      if (l.text.rfind("# restored by ctdump", 0) != 0) out += l.text + "\n";
      continue;
    }
    if (l.key.empty()) {
      Drop(Trim(l.text));
      continue;
    }
    if (!KeepLxc(l, " = ")) continue;
    std::string value = l.value;
    if (l.key == "lxc.uts.name" && t_.hostname) continue;  // written below
    if (l.key == NetPrefix(l.key) + "hwaddr" && t_.new_hwaddr) value = t_.new_hwaddr();
    // Re-rendered from the parsed key and value: LXC reads what was checked.
    out += fmt::format("{} = {}\n", l.key, value);
  }
  if (t_.hostname) out += fmt::format("lxc.uts.name = {}\n", *t_.hostname);
  if (!t_.map.empty()) out += fmt::format("lxc.include = {}userns.conf\n", kLxcConfigDir);
  out += fmt::format("lxc.rootfs.path = {}\n", t_.rootfs_spec);
  out += IdmapLines(t_.map, " = ");
  out += fmt::format("lxc.log.file = {}/{}/lxc.log\n", t_.lxcpath, t_.name);
  r_.lxc_config = out;
  return std::move(r_);
}

RestoredConfig Adapter::Pct() {
  std::string pct = Header(t_), raw_lxc;
  std::string hostname = t_.name, arch = "amd64";
  for (const auto& l : lines_) {
    if (IsComment(l)) {
      if (l.text.rfind("#", 0) == 0 && l.text.rfind("# restored by ctdump", 0) != 0)
        pct += l.text + "\n";
      continue;
    }
    if (l.key.empty()) {
      Drop(Trim(l.text));
      continue;
    }
    if (SkippedPctKey(l.key)) continue;
    if (l.key.rfind("lxc.", 0) == 0) {
      if (!KeepLxc(l, ": ")) continue;
    } else if (!IsRestorablePctKey(l.key)) {
      Drop(fmt::format("{}: {}", l.key, l.value));
      continue;
    }
    std::string value = l.value;
    if (l.key == "hostname" && t_.hostname) value = *t_.hostname;
    if (Numbered(l.key, "net") && t_.new_hwaddr) value = ReplaceHwaddr(value, t_.new_hwaddr);
    if (l.key.rfind("lxc.", 0) == 0 && l.key == NetPrefix(l.key) + "hwaddr" && t_.new_hwaddr)
      value = t_.new_hwaddr();
    if (l.key == "hostname") hostname = value;
    if (l.key == "arch") arch = value;
    pct += fmt::format("{}: {}\n", l.key, value);
    if (l.key.rfind("lxc.", 0) == 0) raw_lxc += fmt::format("{} = {}\n", l.key, value);
  }
  if (t_.hostname && hostname != *t_.hostname) {
    hostname = *t_.hostname;
    pct += fmt::format("hostname: {}\n", hostname);
  }
  pct += fmt::format("rootfs: {}\n", t_.rootfs_path);
  if (!t_.map.empty()) pct += "unprivileged: 1\n";
  pct += IdmapLines(t_.map, ": ");

  std::string lxc = fmt::format("lxc.include = {}common.conf\n", kLxcConfigDir);
  if (!t_.map.empty()) lxc += fmt::format("lxc.include = {}userns.conf\n", kLxcConfigDir);
  lxc += fmt::format("lxc.arch = {}\nlxc.uts.name = {}\n", arch, hostname);
  lxc += fmt::format("lxc.rootfs.path = {}\n", t_.rootfs_spec);
  lxc += IdmapLines(t_.map, " = ");
  lxc += "lxc.net.0.type = empty\n";
  lxc += fmt::format("lxc.log.file = {}/{}/lxc.log\n", t_.lxcpath, t_.name);
  // Raw keys first, then what the restore decides: LXC keeps the last value.
  r_.lxc_config = Header(t_) + raw_lxc + lxc;
  r_.pct_conf = pct;
  return std::move(r_);
}

}  // namespace

bool IsRegeneratedLxcKey(const std::string& key) {
  return key.rfind("lxc.rootfs", 0) == 0 || key.rfind("lxc.log.", 0) == 0 || key == "lxc.idmap" ||
         key == "lxc.id_map";
}

bool IsRestorableLxcKey(const std::string& key, const std::string& value) {
  // What the container is and does inside itself.
  static constexpr std::string_view kPlain[] = {
      "lxc.arch",        "lxc.uts.name",   "lxc.signal.halt", "lxc.signal.reboot",
      "lxc.signal.stop", "lxc.start.auto", "lxc.start.delay", "lxc.start.order",
      "lxc.group",       "lxc.tty.max",    "lxc.pty.max",     "lxc.init.cmd",
      "lxc.init.cwd",    "lxc.init.uid",   "lxc.init.gid"};
  for (std::string_view k : kPlain)
    if (key == k) return true;
  // NAME=value only: a bare NAME would copy the host's variable in.
  if (key == "lxc.environment") {
    size_t eq = value.find('=');
    return eq != std::string::npos && eq > 0;
  }
  if (key == "lxc.include") return IsBaseConfigInclude(value);
  return IsResourceLimit(key) || IsRestorableNetKey(key, value);
}

bool IsRestorablePctKey(const std::string& key) {
  // PVE's container options that describe the guest; not hookscript (runs
  // on the host), devN (host devices), features (nesting, mounts, ...) or
  // anything unknown.
  static constexpr std::string_view kKeys[] = {
      "arch",     "cmode",  "console",    "cores",    "cpulimit", "cpuunits",   "description",
      "hostname", "memory", "nameserver", "onboot",   "ostype",   "protection", "searchdomain",
      "startup",  "swap",   "tags",       "timezone", "tty"};
  for (std::string_view k : kKeys)
    if (key == k) return true;
  return Numbered(key, "net");
}

Status CheckHostname(const std::string& name) {
  auto bad = [&](const char* why) {
    return InvalidArgumentError(fmt::format(
        "invalid host name '{}': {} (DNS labels of letters, digits and '-', joined by '.')", name,
        why));
  };
  if (name.empty() || name.size() > 255) return bad("must be 1 to 255 characters");
  size_t pos = 0;
  while (pos <= name.size()) {
    size_t dot = name.find('.', pos);
    if (dot == std::string::npos) dot = name.size();
    std::string_view label(name.data() + pos, dot - pos);
    if (label.empty() || label.size() > 63) return bad("each label must be 1 to 63 characters");
    if (label.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") !=
        std::string_view::npos)
      return bad("only letters, digits and '-' in a label");
    if (label.front() == '-' || label.back() == '-')
      return bad("a label cannot begin or end with '-'");
    pos = dot + 1;
  }
  return Status::OK();
}

std::string LocalMacAddress(const uint8_t (&r)[6]) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", (r[0] & 0xfc) | 0x02, r[1], r[2],
                     r[3], r[4], r[5]);
}

Result<BackedUpConfig> InspectGuestConfig(const std::string& raw) {
  BackedUpConfig c;
  c.is_pct = LooksLikePct(raw);
  for (const auto& l : SplitLines(raw, c.is_pct)) {
    if (l.key == "lxc.idmap") c.idmap_values.push_back(l.value);
    if (c.is_pct && l.key == "unprivileged") c.unprivileged = l.value == "1";
    if (c.is_pct && l.key == "hostname") c.hostname = l.value;
    if (!c.is_pct && l.key == "lxc.uts.name") c.hostname = l.value;
  }
  if (!c.is_pct) c.unprivileged = !c.idmap_values.empty();
  return c;
}

Result<RestoredConfig> AdaptGuestConfig(const std::string& raw, const RestoreTarget& target) {
  if (target.name.empty() || target.rootfs_spec.empty())
    return InvalidArgumentError("restore target needs a name and a root file system");
  if (target.hostname) RETURN_IF_ERROR(CheckHostname(*target.hostname));
  bool pct = LooksLikePct(raw);
  Adapter a(raw, pct, target);
  return pct ? a.Pct() : a.Lxc();
}

}  // namespace ctdump::restore
