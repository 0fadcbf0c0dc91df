// Reader for LXC config files (lxc.container.conf(5)).
//
// Reading is two passes: the first flattens the file and its includes into a
// list of located assignments (LXC applies them in exactly that order); the
// second folds them into a ContainerConfig. Folding needs the whole list
// because a mount entry's absolute target is resolved against the rootfs path,
// which may be assigned later.
#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "config/text_util.h"
#include "ctdump/container_config.h"

namespace ctdump {
namespace {

using config::DirName;
using config::EndsWith;
using config::NormalizeAbsolutePath;
using config::Split;
using config::StartsWith;
using config::Where;

constexpr size_t kMaxIncludeDepth = 16;

// One "key = value" assignment and where it came from.
struct Assignment {
  std::string key;
  std::string value;
  std::string file;
  size_t line = 0;

  std::string where() const { return Where(file, line); }
};

bool IsKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// LXC's lxc_char_left_gc / right_gc trim spaces and tabs; we also drop '\r' so
// that files with CRLF line ends read the same.
std::string_view TrimBlanks(std::string_view s) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

// Parses one line as LXC's parse_line does. nullopt for lines LXC skips
// (blank, comments, keys not starting with "lxc.").
Result<std::optional<std::pair<std::string, std::string>>> ParseLxcLine(std::string_view line) {
  line = TrimBlanks(line);
  if (line.empty() || line[0] == '#' || !StartsWith(line, "lxc.")) {
    return std::optional<std::pair<std::string, std::string>>();
  }
  if (line.find('\0') != std::string_view::npos) return InvalidArgumentError("NUL byte in line");
  size_t eq = line.find('=');
  if (eq == std::string_view::npos) {
    return InvalidArgumentError(fmt::format("invalid line '{}', expected 'lxc.key = value'", line));
  }
  std::string_view key = TrimBlanks(line.substr(0, eq));
  if (!std::all_of(key.begin(), key.end(), IsKeyChar)) {
    return InvalidArgumentError(fmt::format("invalid key '{}'", key));
  }
  std::string_view value = TrimBlanks(line.substr(eq + 1));
  if (value.size() > 1 && (value[0] == '"' || value[0] == '\'') && value.back() == value[0]) {
    value = value.substr(1, value.size() - 2);
  }
  return std::optional(std::make_pair(std::string(key), std::string(value)));
}

// Flattens a config file and everything it includes into assignments.
class Flattener {
 public:
  explicit Flattener(const ConfigFiles& files) : files_(files) {}

  // Reads the main file; its text goes to *raw.
  Status ReadMain(const std::string& path, std::string* raw) {
    ASSIGN_OR_RETURN(*raw, files_.Read(path));
    stack_.push_back(NormalizeAbsolutePath(path).value_or(path));
    return ReadText(path, *raw);
  }

  std::vector<Assignment>& assignments() { return assignments_; }

 private:
  Status ReadText(const std::string& path, std::string_view text) {
    std::vector<std::string_view> lines = config::SplitLines(text);
    for (size_t i = 0; i < lines.size(); ++i) {
      Result<std::optional<std::pair<std::string, std::string>>> kv = ParseLxcLine(lines[i]);
      if (!kv.ok()) return kv.status().WithContext(Where(path, i + 1));
      if (!kv->has_value()) continue;
      Assignment a{std::move((*kv)->first), std::move((*kv)->second), path, i + 1};
      assignments_.push_back(a);
      if (a.key == "lxc.include" && !a.value.empty()) RETURN_IF_ERROR(Include(a));
    }
    return Status::OK();
  }

  Status Include(const Assignment& inc) {
    std::optional<std::string> target = NormalizeAbsolutePath(inc.value);
    if (!target) {
      return InvalidArgumentError(
          fmt::format("{}: lxc.include path '{}' is not absolute", inc.where(), inc.value));
    }
    Result<bool> is_dir = files_.IsDirectory(*target);
    // LXC 5 skips a missing include whose path ends in '/' (Debian's
    // userns.conf includes the usually absent userns.conf.d/); any other
    // missing include makes lxc-start fail, and so us (checked with lxc-info).
    if (!is_dir.ok() && is_dir.status().code() == Code::kNotFound && EndsWith(inc.value, "/")) {
      return Status::OK();
    }
    if (!is_dir.ok()) return is_dir.status().WithContext(inc.where() + ": lxc.include");
    if (!*is_dir) return IncludeFile(*target, inc);
    Result<std::vector<std::string>> names = files_.List(*target);
    if (!names.ok()) return names.status().WithContext(inc.where() + ": lxc.include");
    std::sort(names->begin(), names->end());
    for (const std::string& name : *names) {
      // LXC's do_includedir: at least one character before ".conf".
      if (name.size() < 6 || !EndsWith(name, ".conf")) continue;
      RETURN_IF_ERROR(IncludeFile(*target + (*target == "/" ? "" : "/") + name, inc));
    }
    return Status::OK();
  }

  Status IncludeFile(const std::string& path, const Assignment& inc) {
    if (std::find(stack_.begin(), stack_.end(), path) != stack_.end()) {
      std::string chain;
      for (const std::string& p : stack_) chain += p + " -> ";
      return InvalidArgumentError(
          fmt::format("{}: lxc.include cycle: {}{}", inc.where(), chain, path));
    }
    if (stack_.size() > kMaxIncludeDepth) {
      return InvalidArgumentError(fmt::format("{}: lxc.include of \"{}\" nests deeper than {}",
                                              inc.where(), path, kMaxIncludeDepth));
    }
    Result<std::string> text = files_.Read(path);
    if (!text.ok()) return text.status().WithContext(inc.where() + ": lxc.include");
    stack_.push_back(path);
    Status s = ReadText(path, *text);
    stack_.pop_back();
    return s;
  }

  const ConfigFiles& files_;
  std::vector<std::string> stack_;  // files being read, outermost first
  std::vector<Assignment> assignments_;
};

// The assignments that matter after LXC's override / accumulate rules.
struct Effective {
  std::optional<Assignment> rootfs, uts, fstab;
  std::vector<std::string> idmaps;
  std::vector<Assignment> mount_entries;
};

Effective Fold(const std::vector<Assignment>& assignments) {
  Effective e;
  for (const Assignment& a : assignments) {
    if (a.key == "lxc.rootfs.path") {
      e.rootfs = a;
    } else if (a.key == "lxc.uts.name") {
      e.uts = a;
    } else if (a.key == "lxc.mount.fstab") {
      e.fstab = a;
    } else if (a.key == "lxc.idmap") {
      if (a.value.empty())
        e.idmaps.clear();
      else
        e.idmaps.push_back(a.value);
    } else if (a.key == "lxc.mount.entry") {
      if (a.value.empty())
        e.mount_entries.clear();
      else
        e.mount_entries.push_back(a);
    }
  }
  return e;
}

// lxc.rootfs.path: "dir:/p", "btrfs:/p" or "/p".
Status ApplyRootfs(const std::optional<Assignment>& a, const std::string& main_file,
                   ContainerConfig& cfg) {
  if (!a || a->value.empty()) {
    return InvalidArgumentError(fmt::format("{}: no lxc.rootfs.path", main_file));
  }
  std::string backend = "dir";
  std::string_view path = a->value;
  if (path[0] != '/') {
    size_t colon = path.find(':');
    backend = std::string(path.substr(0, colon));
    if (colon == std::string_view::npos) {
      return InvalidArgumentError(
          fmt::format("{}: lxc.rootfs.path '{}' is not an absolute path", a->where(), a->value));
    }
    if (backend != "dir" && backend != "btrfs") {
      return InvalidArgumentError(fmt::format(
          "{}: unsupported rootfs backend '{}' in lxc.rootfs.path '{}' (ctdump supports dir: and "
          "btrfs:)",
          a->where(), backend, a->value));
    }
    path = path.substr(colon + 1);
  }
  std::optional<std::string> normal = NormalizeAbsolutePath(path);
  if (!normal) {
    return InvalidArgumentError(fmt::format(
        "{}: lxc.rootfs.path '{}' does not name an absolute path", a->where(), a->value));
  }
  cfg.rootfs_path = *normal;
  cfg.rootfs_backend = backend;
  return Status::OK();
}

// glibc's getmntent decoding of \040 (space), \011 (tab), \012 (newline),
// \134 and \\ (backslash).
std::string DecodeFstabField(std::string_view s) {
  struct Escape {
    std::string_view seq;
    char c;
  };
  static constexpr Escape kEscapes[] = {
      {"\\040", ' '}, {"\\011", '\t'}, {"\\012", '\n'}, {"\\134", '\\'}, {"\\\\", '\\'}};
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    const Escape* hit = nullptr;
    for (const Escape& e : kEscapes) {
      if (StartsWith(s.substr(i), e.seq)) hit = &e;
    }
    if (hit != nullptr) {
      out += hit->c;
      i += hit->seq.size();
    } else {
      out += s[i++];
    }
  }
  return out;
}

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "src target fstype options [dump [pass]]" -> fields, decoded.
Result<std::vector<std::string>> SplitFstabLine(std::string_view value) {
  std::vector<std::string> fields;
  for (std::string_view part : Split(value, ' ')) {
    for (std::string_view field : Split(part, '\t')) {
      if (!field.empty()) fields.push_back(DecodeFstabField(field));
    }
  }
  if (fields.size() < 4 || fields.size() > 6) {
    return InvalidArgumentError(fmt::format(
        "invalid mount entry '{}', expected 'source target fstype options [dump [pass]]'", value));
  }
  for (size_t i = 4; i < fields.size(); ++i) {
    if (!IsDigits(fields[i])) {
      return InvalidArgumentError(
          fmt::format("invalid mount entry '{}': '{}' is not a number", value, fields[i]));
    }
  }
  return fields;
}

// The mount point inside the container for an entry's target, or nullopt if
// LXC would ignore the entry (absolute target outside the root file system).
std::optional<std::string> ContainerPath(const std::string& target,
                                         const std::vector<std::string>& roots) {
  if (target.empty() || target[0] != '/') return NormalizeAbsolutePath("/" + target);
  std::optional<std::string> normal = NormalizeAbsolutePath(target);
  if (!normal) return std::nullopt;
  for (const std::string& root : roots) {
    if (*normal == root) return "/";
    if (root == "/") return normal;
    if (StartsWith(*normal, root + "/")) return normal->substr(root.size());
  }
  return std::nullopt;
}

bool HasOption(std::string_view options, std::string_view name) {
  for (std::string_view opt : Split(options, ',')) {
    if (opt == name) return true;
  }
  return false;
}

// Adds one fstab-style entry as a MountPoint (or a warning if LXC ignores it).
Status AddMountEntry(std::string_view value, const std::string& key, const std::string& where,
                     const std::vector<std::string>& roots, ContainerConfig& cfg) {
  Result<std::vector<std::string>> fields = SplitFstabLine(value);
  if (!fields.ok()) return fields.status().WithContext(where);
  const std::vector<std::string>& f = *fields;
  if (f[1].find('\0') != std::string::npos) {
    return InvalidArgumentError(fmt::format("{}: NUL byte in mount target", where));
  }
  std::optional<std::string> path = ContainerPath(f[1], roots);
  if (!path) {
    cfg.warnings.push_back(fmt::format(
        "{}: ignoring mount entry '{}': its absolute target is not below the root file system "
        "\"{}\" (LXC ignores it too)",
        where, value, cfg.rootfs_path));
    return Status::OK();
  }
  MountPoint mp;
  mp.key = key;
  mp.source = f[0];
  mp.path = *path;
  mp.fstype = f[2];
  mp.options = f[3];
  mp.is_bind = HasOption(f[3], "bind") || HasOption(f[3], "rbind");
  mp.backup = HasOption(f[3], "x-ctdump.backup");
  cfg.mounts.push_back(std::move(mp));
  return Status::OK();
}

// lxc.mount.fstab: a file of fstab lines ('#' comments and blank lines skipped).
Status AddFstabFile(const Assignment& a, const std::vector<std::string>& roots,
                    const ConfigFiles& files, ContainerConfig& cfg) {
  std::optional<std::string> path = NormalizeAbsolutePath(a.value);
  if (!path) {
    return InvalidArgumentError(
        fmt::format("{}: lxc.mount.fstab path '{}' is not absolute", a.where(), a.value));
  }
  Result<std::string> text = files.Read(*path);
  if (!text.ok()) return text.status().WithContext(a.where() + ": lxc.mount.fstab");
  std::vector<std::string_view> lines = config::SplitLines(*text);
  size_t n = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = TrimBlanks(lines[i]);
    if (line.empty() || line[0] == '#') continue;
    std::string key = fmt::format("lxc.mount.fstab:{}", n++);
    RETURN_IF_ERROR(AddMountEntry(line, key, Where(*path, i + 1), roots, cfg));
  }
  return Status::OK();
}

Status ApplyMounts(const Effective& e, const std::string& main_file, const ConfigFiles& files,
                   ContainerConfig& cfg) {
  // LXC strips "<lxcpath>/<name>/rootfs" too; the config normally sits in
  // "<lxcpath>/<name>/", so that is "<dir of config>/rootfs".
  std::vector<std::string> roots = {cfg.rootfs_path};
  if (std::optional<std::string> alt = NormalizeAbsolutePath(DirName(main_file) + "/rootfs")) {
    if (*alt != cfg.rootfs_path) roots.push_back(*alt);
  }
  for (size_t i = 0; i < e.mount_entries.size(); ++i) {
    const Assignment& a = e.mount_entries[i];
    RETURN_IF_ERROR(
        AddMountEntry(a.value, fmt::format("lxc.mount.entry:{}", i), a.where(), roots, cfg));
  }
  if (e.fstab && !e.fstab->value.empty())
    RETURN_IF_ERROR(AddFstabFile(*e.fstab, roots, files, cfg));
  return Status::OK();
}

}  // namespace

Result<ContainerConfig> ReadLxcConfig(const std::string& path, const std::string& name,
                                      const ConfigFiles& files) {
  ContainerConfig cfg;
  cfg.format = ContainerConfig::Format::kLxc;
  cfg.name = name;
  Flattener flattener(files);
  RETURN_IF_ERROR(flattener.ReadMain(path, &cfg.raw));
  for (const Assignment& a : flattener.assignments()) cfg.entries.emplace_back(a.key, a.value);
  Effective e = Fold(flattener.assignments());
  RETURN_IF_ERROR(ApplyRootfs(e.rootfs, path, cfg));
  if (e.uts) cfg.hostname = e.uts->value;
  cfg.idmap_values = std::move(e.idmaps);
  cfg.unprivileged = !cfg.idmap_values.empty();
  RETURN_IF_ERROR(ApplyMounts(e, path, files, cfg));
  return cfg;
}

}  // namespace ctdump
