#include "restore/guest_config.h"

#include <sstream>

#include <fmt/format.h>

namespace ctdump::restore {
namespace {

struct Line {
  std::string key;  // empty for comments / blank lines
  std::string value;
  std::string text;  // original line
};

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
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

bool SkippedPctKey(const std::string& k) {
  static const char* kSkip[] = {"digest", "rootfs", "snapshots", "unprivileged", "parent",
                                "template", "lock", "snaptime", "snapstate"};
  for (const char* s : kSkip)
    if (k == s) return true;
  auto numbered = [&](const char* prefix) {
    size_t n = std::string(prefix).size();
    return k.rfind(prefix, 0) == 0 && k.size() > n &&
           k.find_first_not_of("0123456789", n) == std::string::npos;
  };
  return numbered("mp") || numbered("unused");
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

// Whether a raw LXC line of the backup is kept; records untrusted drops.
bool KeepLxcKey(const Line& l, const RestoreTarget& t, RestoredConfig& r) {
  if (IsRegeneratedLxcKey(l.key)) return false;
  if (l.key == "lxc.include" && l.value.find("userns.conf") != std::string::npos) return false;
  if (t.untrusted && IsHostReachingLxcKey(l.key, l.value)) {
    r.dropped.push_back(l.key);
    return false;
  }
  return true;
}

RestoredConfig AdaptLxc(const std::vector<Line>& lines, const RestoreTarget& t) {
  RestoredConfig r;
  std::string out = Header(t);
  for (const auto& l : lines) {
    if (!l.key.empty() && !KeepLxcKey(l, t, r)) continue;
    if (l.text.rfind("# restored by ctdump", 0) == 0) continue;
    out += l.text + "\n";
  }
  if (!t.map.empty()) out += "lxc.include = /usr/share/lxc/config/userns.conf\n";
  out += fmt::format("lxc.rootfs.path = {}\n", t.rootfs_spec);
  out += IdmapLines(t.map, " = ");
  out += fmt::format("lxc.log.file = {}/{}/lxc.log\n", t.lxcpath, t.name);
  r.lxc_config = out;
  return r;
}

RestoredConfig AdaptPct(const std::vector<Line>& lines, const RestoreTarget& t) {
  RestoredConfig r;
  std::string pct = Header(t), raw_lxc;
  std::string hostname = t.name, arch = "amd64";
  for (const auto& l : lines) {
    if (l.key.empty()) {
      if (l.text.rfind("#", 0) == 0 && l.text.rfind("# restored by ctdump", 0) != 0) pct += l.text + "\n";
      continue;
    }
    if (SkippedPctKey(l.key)) continue;
    if (l.key.rfind("lxc.", 0) == 0) {
      if (!KeepLxcKey(l, t, r)) continue;
      raw_lxc += fmt::format("{} = {}\n", l.key, l.value);
    }
    if (l.key == "hostname") hostname = l.value;
    if (l.key == "arch") arch = l.value;
    pct += l.text + "\n";
  }
  pct += fmt::format("rootfs: {}\n", t.rootfs_path);
  if (!t.map.empty()) pct += "unprivileged: 1\n";
  pct += IdmapLines(t.map, ": ");

  std::string lxc = Header(t);
  lxc += "lxc.include = /usr/share/lxc/config/common.conf\n";
  if (!t.map.empty()) lxc += "lxc.include = /usr/share/lxc/config/userns.conf\n";
  lxc += fmt::format("lxc.arch = {}\nlxc.uts.name = {}\n", arch, hostname);
  lxc += fmt::format("lxc.rootfs.path = {}\n", t.rootfs_spec);
  lxc += IdmapLines(t.map, " = ");
  lxc += "lxc.net.0.type = empty\n";
  lxc += fmt::format("lxc.log.file = {}/{}/lxc.log\n", t.lxcpath, t.name);
  // Raw keys first, then what the restore decides: LXC keeps the last value.
  std::string generated = lxc.substr(Header(t).size());
  r.lxc_config = Header(t) + raw_lxc + generated;
  r.pct_conf = pct;
  return r;
}

}  // namespace

bool IsRegeneratedLxcKey(const std::string& key) {
  return key.rfind("lxc.rootfs", 0) == 0 || key.rfind("lxc.log.", 0) == 0 || key == "lxc.idmap" ||
         key == "lxc.id_map";
}

bool IsHostReachingLxcKey(const std::string& key, const std::string& value) {
  static const char* kPrefixes[] = {"lxc.hook.", "lxc.mount.entry", "lxc.mount.fstab", "lxc.apparmor.",
                                    "lxc.seccomp.", "lxc.cap.", "lxc.namespace.", "lxc.selinux.",
                                    "lxc.cgroup.devices.", "lxc.cgroup2.devices.", "lxc.sysctl.",
                                    "lxc.proc.", "lxc.prlimit.", "lxc.monitor.", "lxc.hook"};
  for (const char* p : kPrefixes)
    if (key.rfind(p, 0) == 0) return true;
  if (key == "lxc.include") return value.rfind("/usr/share/lxc/config/", 0) != 0;
  // A physical NIC is moved from the host into the container.
  if (key.rfind("lxc.net.", 0) == 0 && key.ends_with(".type")) return value == "phys";
  if (key.rfind("lxc.net.", 0) == 0 && key.ends_with(".link")) return false;
  return false;
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
  bool pct = LooksLikePct(raw);
  auto lines = SplitLines(raw, pct);
  return pct ? AdaptPct(lines, target) : AdaptLxc(lines, target);
}

}  // namespace ctdump::restore
