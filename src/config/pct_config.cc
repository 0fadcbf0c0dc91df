// Parser for Proxmox pct.conf text, following PVE::LXC::Config::parse_pct_config
// for the main section and PVE::JSONSchema::parse_property_string for rootfs /
// mpN values. PVE only warns about bad lines when it is not strict; ctdump
// refuses them, because a config it misreads could silently drop data from a
// backup.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "config/text_util.h"
#include "ctdump/container_config.h"

namespace ctdump {
namespace {

using config::NormalizeAbsolutePath;
using config::ParsePveBool;
using config::StartsWith;
using config::Trim;
using config::Where;

constexpr int kMaxMountPoints = 256;  // PVE's MAX_MOUNT_POINTS: mp0 .. mp255

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// ^\[pve:pending\]\s*$ (any case) or ^\[([a-z][a-z0-9_\-]+)\]\s*$ (any case).
bool IsSectionHeader(std::string_view line) {
  line = config::TrimRight(line);
  if (line.size() < 3 || line.front() != '[' || line.back() != ']') return false;
  std::string name;
  for (char c : line.substr(1, line.size() - 2)) {
    name.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  if (name == "pve:pending") return true;
  if (name.size() < 2 || !IsLower(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return IsLower(c) || IsDigit(c) || c == '_' || c == '-'; });
}

// ^(lxc\.[a-z0-9_\-\.]+)(:|\s*=)\s*(.*?)\s*$
std::optional<std::pair<std::string, std::string>> MatchLxcKey(std::string_view line) {
  if (!StartsWith(line, "lxc.")) return std::nullopt;
  size_t end = 4;
  auto key_char = [](char c) {
    return IsLower(c) || IsDigit(c) || c == '_' || c == '-' || c == '.';
  };
  while (end < line.size() && key_char(line[end])) ++end;
  if (end == 4) return std::nullopt;
  std::string_view rest = line.substr(end);
  if (StartsWith(rest, ":")) {
    rest.remove_prefix(1);
  } else {
    rest = config::TrimLeft(rest);
    if (!StartsWith(rest, "=")) return std::nullopt;
    rest.remove_prefix(1);
  }
  return std::make_pair(std::string(line.substr(0, end)), std::string(Trim(rest)));
}

// ^([a-z][a-z_]*\d*):\s*(.*\S)\s*$
std::optional<std::pair<std::string, std::string>> MatchKey(std::string_view line) {
  size_t end = 0;
  if (line.empty() || !IsLower(line[0])) return std::nullopt;
  while (end < line.size() && (IsLower(line[end]) || line[end] == '_')) ++end;
  while (end < line.size() && IsDigit(line[end])) ++end;
  if (end >= line.size() || line[end] != ':') return std::nullopt;
  std::string_view value = Trim(line.substr(end + 1));
  if (value.empty()) return std::nullopt;
  return std::make_pair(std::string(line.substr(0, end)), std::string(value));
}

// "mpN" with N in 0..255 written canonically -> N.
std::optional<int> MountPointNumber(std::string_view key) {
  if (!StartsWith(key, "mp") || key.size() < 3 || key.size() > 5) return std::nullopt;
  std::string_view digits = key.substr(2);
  if (!std::all_of(digits.begin(), digits.end(), IsDigit)) return std::nullopt;
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
  int n = 0;
  for (char c : digits) n = n * 10 + (c - '0');
  if (n >= kMaxMountPoints) return std::nullopt;
  return n;
}

using Properties = std::map<std::string, std::string>;

const std::set<std::string>& RootfsKeys() {
  static const auto* const kKeys = new std::set<std::string>{
      "volume", "size", "ro", "quota", "acl", "mountoptions", "replicate", "shared"};
  return *kKeys;
}

const std::set<std::string>& MountPointKeys() {
  static const auto* const kKeys =
      new std::set<std::string>{"volume", "mp",           "size",      "ro",     "quota",
                                "acl",    "mountoptions", "replicate", "shared", "backup"};
  return *kKeys;
}

bool IsBooleanProperty(std::string_view key) {
  return key == "ro" || key == "quota" || key == "acl" || key == "replicate" || key == "shared" ||
         key == "backup";
}

// PVE's parse_property_string with "volume" as the default key.
Result<Properties> ParsePropertyString(std::string_view value, const std::set<std::string>& keys) {
  Properties props;
  for (std::string_view part : config::Split(value, ',')) {
    if (Trim(part).empty()) continue;
    size_t eq = part.find('=');
    std::string key = eq == std::string_view::npos ? "volume" : std::string(part.substr(0, eq));
    std::string_view val = eq == std::string_view::npos ? part : part.substr(eq + 1);
    if (key.empty() || val.empty()) {
      return InvalidArgumentError(fmt::format("missing key or value in '{}'", part));
    }
    if (keys.count(key) == 0) return InvalidArgumentError(fmt::format("invalid key '{}'", key));
    if (props.count(key) != 0) return InvalidArgumentError(fmt::format("duplicate key '{}'", key));
    if (IsBooleanProperty(key) && !ParsePveBool(val)) {
      return InvalidArgumentError(fmt::format("'{}' must be a boolean, got '{}'", key, val));
    }
    props[key] = std::string(val);
  }
  if (props.count("volume") == 0) return InvalidArgumentError("missing volume");
  return props;
}

// PVE's verify_lxc_mp_string plus "must be absolute": no "." or ".."
// components.
Result<std::string> MountPath(std::string_view mp) {
  std::optional<std::string> normal = NormalizeAbsolutePath(mp);
  bool dots = false;
  for (std::string_view part : config::Split(mp, '/')) dots = dots || part == "." || part == "..";
  if (!normal || dots) {
    return InvalidArgumentError(
        fmt::format("mount point path '{}' must be absolute without '.' or '..'", mp));
  }
  return *normal;
}

// State collected while reading the main section.
struct PctParse {
  ContainerConfig cfg;
  std::optional<std::pair<std::string, size_t>> rootfs;  // value, line
  std::map<int, std::pair<std::string, size_t>> mps;     // N -> value, line
};

Status ApplyRootfs(const PctParse& p, const std::string& file, ContainerConfig& cfg) {
  if (!p.rootfs) return InvalidArgumentError(fmt::format("{}: no rootfs", file));
  std::string where = Where(file, p.rootfs->second);
  Result<Properties> props = ParsePropertyString(p.rootfs->first, RootfsKeys());
  if (!props.ok()) return props.status().WithContext(where + ": rootfs");
  const std::string& volume = (*props)["volume"];
  if (StartsWith(volume, "/dev/")) {
    return InvalidArgumentError(
        fmt::format("{}: rootfs '{}' is a block device: ctdump needs a directory", where, volume));
  }
  std::optional<std::string> path = NormalizeAbsolutePath(volume);
  if (!path) {
    return InvalidArgumentError(fmt::format(
        "cannot resolve storage volume '{}' of rootfs in {}: ctdump needs an absolute path", volume,
        file));
  }
  cfg.rootfs_path = *path;
  cfg.rootfs_backend = "dir";
  return Status::OK();
}

Result<MountPoint> ParseMountPoint(int n, const std::string& value) {
  ASSIGN_OR_RETURN(Properties props, ParsePropertyString(value, MountPointKeys()));
  if (props.count("mp") == 0) return InvalidArgumentError("missing mp");
  MountPoint mp;
  mp.key = fmt::format("mp{}", n);
  mp.source = props["volume"];
  ASSIGN_OR_RETURN(mp.path, MountPath(props["mp"]));
  mp.options = value;
  // PVE's classify_mountpoint.
  if (StartsWith(mp.source, "/dev/")) return mp;  // device: never backed up
  if (StartsWith(mp.source, "/")) {
    mp.is_bind = true;
    mp.fstype = "bind";
    return mp;
  }
  mp.is_volume = true;
  mp.backup = props.count("backup") != 0 && *ParsePveBool(props["backup"]);
  return mp;
}

// Handles one "key: value" of the main section.
Status ApplyKey(const std::string& key, const std::string& value, size_t line,
                const std::string& file, PctParse& p) {
  if (key == "delete") {
    return InvalidArgumentError(
        fmt::format("{}: property 'delete' is only allowed in [pve:pending]", Where(file, line)));
  }
  if (key == "rootfs") {
    p.rootfs = {value, line};
  } else if (std::optional<int> n = MountPointNumber(key)) {
    p.mps[*n] = {value, line};
  } else if (key == "hostname") {
    p.cfg.hostname = value;
  } else if (key == "unprivileged") {
    std::optional<bool> b = ParsePveBool(value);
    if (!b) {
      return InvalidArgumentError(
          fmt::format("{}: unprivileged must be a boolean, got '{}'", Where(file, line), value));
    }
    p.cfg.unprivileged = *b;
  } else if (StartsWith(key, "mp")) {
    p.cfg.warnings.push_back(fmt::format("{}: ignoring '{}': not a mount point key (mp0 .. mp255)",
                                         Where(file, line), key));
  }
  return Status::OK();
}

// Keys vzdump's assemble step deletes before writing the guest config.
bool DroppedFromRaw(std::string_view key) {
  return key == "lock" || key == "parent" || key == "snapstate" || key == "snapshots" ||
         key == "pending";
}

// Parses one main-section line; appends it to raw unless it is dropped.
Status ParseLine(std::string_view line, size_t lineno, const std::string& file, PctParse& p) {
  if (Trim(line).empty() || line[0] == '#') {
    p.cfg.raw.append(line).push_back('\n');
    return Status::OK();
  }
  if (auto kv = MatchLxcKey(line)) {
    if (kv->first == "lxc.idmap") p.cfg.idmap_values.push_back(kv->second);
    p.cfg.entries.push_back(std::move(*kv));
    p.cfg.raw.append(line).push_back('\n');
    return Status::OK();
  }
  std::optional<std::pair<std::string, std::string>> kv = MatchKey(line);
  if (!kv) {
    return InvalidArgumentError(
        fmt::format("{}: unable to parse config line '{}'", Where(file, lineno), line));
  }
  RETURN_IF_ERROR(ApplyKey(kv->first, kv->second, lineno, file, p));
  if (!DroppedFromRaw(kv->first)) p.cfg.raw.append(line).push_back('\n');
  p.cfg.entries.push_back(std::move(*kv));
  return Status::OK();
}

// Blank lines separate the main section from the first snapshot section; the
// raw config ends with its last real line.
void DropTrailingBlankLines(std::string& raw) {
  while (!raw.empty()) {
    size_t prev = raw.size() >= 2 ? raw.rfind('\n', raw.size() - 2) : std::string::npos;
    size_t start = prev == std::string::npos ? 0 : prev + 1;
    if (!Trim(std::string_view(raw).substr(start)).empty()) return;
    raw.erase(start);
  }
}

}  // namespace

Result<ContainerConfig> ParsePctConfig(std::string_view text, const std::string& name,
                                       const std::string& filename_for_errors) {
  const std::string& file = filename_for_errors;
  if (text.find('\0') != std::string_view::npos) {
    return InvalidArgumentError(fmt::format("{}: NUL byte in config", file));
  }
  PctParse p;
  p.cfg.format = ContainerConfig::Format::kPct;
  p.cfg.name = name;
  std::vector<std::string_view> lines = config::SplitLines(text);
  for (size_t i = 0; i < lines.size() && !IsSectionHeader(lines[i]); ++i) {
    RETURN_IF_ERROR(ParseLine(lines[i], i + 1, file, p));
  }
  DropTrailingBlankLines(p.cfg.raw);
  RETURN_IF_ERROR(ApplyRootfs(p, file, p.cfg));
  for (const auto& [n, value_line] : p.mps) {
    Result<MountPoint> mp = ParseMountPoint(n, value_line.first);
    if (!mp.ok()) {
      return mp.status().WithContext(fmt::format("{}: mp{}", Where(file, value_line.second), n));
    }
    p.cfg.mounts.push_back(std::move(*mp));
  }
  return std::move(p.cfg);
}

}  // namespace ctdump
