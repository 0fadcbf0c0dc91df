#include "backup/job_options.h"

#include <dirent.h>
#include <fmt/format.h>

#include <algorithm>

#include "backup/retention.h"
#include "ctdump/exclude.h"
#include "sys/file.h"

namespace ctdump::backup {
namespace {

Result<uint64_t> ParseUint(const std::string& v, const std::string& what, uint64_t max) {
  if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos)
    return InvalidArgumentError(fmt::format("{}: '{}' is not a non-negative integer", what, v));
  uint64_t n = std::stoull(v);
  if (n > max) return InvalidArgumentError(fmt::format("{}: {} is larger than {}", what, n, max));
  return n;
}

Result<bool> ParseBool(const std::string& v, const std::string& what) {
  if (v == "1" || v == "yes" || v == "on" || v == "true") return true;
  if (v == "0" || v == "no" || v == "off" || v == "false") return false;
  return InvalidArgumentError(fmt::format("{}: '{}' is not a boolean (0 or 1)", what, v));
}

bool ValidMode(const std::string& m) { return m == "stop" || m == "suspend" || m == "snapshot"; }

bool Contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Retention: --prune-backups or --maxfiles into `prune`, ctdump.conf's
// prune-backups or maxfiles into `node_prune` (vzdump: maxfiles N is
// keep-last=N, 0 keep-all; deprecated, and ignored beside prune-backups).
template <typename Where>
Status ResolveRetention(const JobOptions& job, const VzdumpConf& node, const Where& from_node,
                        ResolvedJobOptions* r) {
  constexpr const char* kDeprecated =
      "parameter 'maxfiles' is deprecated with PVE 7.x and will be removed in a future version, "
      "use 'prune-backups' instead";
  auto from_maxfiles = [](uint64_t n) {
    PruneOptions p;
    if (n == 0)
      p.keep_all = true;
    else
      p.keep_last = static_cast<uint32_t>(n);
    return p;
  };
  if (job.prune_backups && job.maxfiles)
    return InvalidArgumentError("--prune-backups: option conflicts with option 'maxfiles'");
  if (job.prune_backups) {
    auto p = ParsePruneOptions(*job.prune_backups);
    if (!p.ok()) return p.status().WithContext("--prune-backups");
    r->prune = *p;
    return Status::OK();
  }
  if (job.maxfiles) {
    r->warnings.push_back(fmt::format("--maxfiles: {}", kDeprecated));
    r->prune = from_maxfiles(*job.maxfiles);
    return Status::OK();
  }
  auto maxfiles = node.Get("maxfiles");
  if (maxfiles) r->warnings.push_back(fmt::format("{}: {}", from_node("maxfiles"), kDeprecated));
  if (auto v = node.Get("prune-backups")) {
    if (maxfiles)
      r->warnings.push_back(fmt::format(
          "both 'maxfiles' and 'prune-backups' defined as options in '{}' - ignoring 'maxfiles'",
          node.filename));
    auto p = ParsePruneOptions(*v);
    if (!p.ok()) return p.status().WithContext(from_node("prune-backups"));
    r->node_prune = *p;
  } else if (maxfiles) {
    ASSIGN_OR_RETURN(uint64_t n, ParseUint(*maxfiles, from_node("maxfiles"), UINT32_MAX));
    r->node_prune = from_maxfiles(n);
  }
  return Status::OK();
}

}  // namespace

Result<std::string> NormalizeCompress(const std::string& value) {
  if (value == "1" || value == "lzo") return std::string("lzo");
  if (value == "0" || value == "none") return std::string("none");
  if (value == "zstd" || value == "gzip") return value;
  return InvalidArgumentError(
      fmt::format("'{}' is not one of 0 (none), 1 (lzo), gzip, lzo, zstd, none", value));
}

std::vector<std::string> SplitGuestList(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const auto& a : args) {
    size_t i = 0;
    while (i < a.size()) {
      size_t end = a.find_first_of(", ;\t\n\r\f\v", i);
      if (end == std::string::npos) end = a.size();
      if (end > i) out.push_back(a.substr(i, end - i));
      i = end + 1;
    }
  }
  return out;
}

Result<VzdumpConf> LoadNodeDefaults(const std::string& config_dir) {
  std::string path = config_dir + "/ctdump.conf";
  auto text = sys::ReadRegularFile(path, kMaxNodeDefaultsSize);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) return VzdumpConf();
    // A file that cannot be read is no usage error (InvalidArgument is: a
    // wrong key or value in it).
    return Status(Code::kFailedPrecondition, text.status().message());
  }
  return ParseVzdumpConf(*text, path);
}

Result<std::vector<std::string>> ListContainers(const std::string& lxcpath) {
  DIR* d = ::opendir(lxcpath.c_str());
  if (!d) return ErrnoError(errno, fmt::format("Failed to list lxcpath \"{}\"", lxcpath));
  std::vector<std::string> out;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (sys::PathExists(lxcpath + "/" + n + "/config")) out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

Result<ResolvedJobOptions> ResolveJobOptions(const JobOptions& job, const VzdumpConf& node,
                                             const std::string& node_file,
                                             const std::string& lxcpath) {
  ResolvedJobOptions r;
  r.command_line = job.command_line;
  auto from_node = [&](const char* key) {
    std::string where = node.filename.empty() ? node_file : node.Where(key);
    return fmt::format("{}: {}", where, key);
  };
  r.warnings = node.warnings;

  std::vector<std::string> vmids = SplitGuestList(job.vmids);
  std::vector<std::string> exclude = SplitGuestList(job.exclude);
  if (job.all || !exclude.empty()) {  // vzdump: --exclude implies --all
    if (!vmids.empty() && !exclude.empty())
      return InvalidArgumentError(
          "--exclude: give it with --all (or alone, which means --all), "
          "not with container names");
    if (!vmids.empty())
      return InvalidArgumentError("give either container names or --all, not both");
    ASSIGN_OR_RETURN(auto all, ListContainers(lxcpath));
    if (all.empty())
      return FailedPreconditionError(
          fmt::format("--all: no containers in lxcpath \"{}\": nothing to back up", lxcpath));
    for (size_t i = 0; i < exclude.size(); ++i)
      if (!Contains(all, exclude[i]) &&
          std::find(exclude.begin(), exclude.begin() + i, exclude[i]) == exclude.begin() + i)
        r.selection_warnings.push_back(fmt::format(
            "--exclude: no container named '{}' in lxcpath \"{}\"", exclude[i], lxcpath));
    for (auto& ct : all)
      if (!Contains(exclude, ct)) r.vmids.push_back(ct);
    if (r.vmids.empty())
      return FailedPreconditionError(fmt::format(
          "--all: every container in lxcpath \"{}\" is excluded: nothing to back up", lxcpath));
  } else {
    if (!exclude.empty() && !vmids.empty())
      return InvalidArgumentError(
          "--exclude: give it with --all (or alone, which means --all), "
          "not with container names");
    if (vmids.empty()) return InvalidArgumentError("no container given (name one or use --all)");
    for (const auto& ct : vmids)
      if (!Contains(r.vmids, ct)) r.vmids.push_back(ct);
  }

  // vzdump: ctdump.conf's storage or dumpdir count only when neither is given.
  if (job.storage && job.dumpdir)
    return InvalidArgumentError("cannot use options 'storage' and 'dumpdir' at the same time");
  if (job.storage) {
    r.storage = *job.storage;
  } else if (job.dumpdir) {
    r.dumpdir = *job.dumpdir;
  } else {
    auto s = node.Get("storage"), d = node.Get("dumpdir");
    if (s && d)
      r.warnings.push_back(fmt::format(
          "both 'storage' and 'dumpdir' defined in '{}' - ignoring 'dumpdir'", node_file));
    if (s)
      r.storage = *s;
    else if (d)
      r.dumpdir = *d;
  }
  if (r.storage.empty() && r.dumpdir.empty())
    return InvalidArgumentError("no storage given (--storage or 'storage' in ctdump.conf)");
  if (!r.dumpdir.empty()) {
    while (r.dumpdir.size() > 1 && r.dumpdir.back() == '/') r.dumpdir.pop_back();
    if (r.dumpdir[0] != '/')
      return InvalidArgumentError(fmt::format("dumpdir '{}' must be an absolute path", r.dumpdir));
  }

  if (job.mode) {
    r.mode = *job.mode;
    if (!ValidMode(r.mode))
      return InvalidArgumentError(fmt::format("--mode: unknown mode '{}'", r.mode));
  } else if (auto v = node.Get("mode")) {
    r.mode = *v;
    if (!ValidMode(r.mode))
      return InvalidArgumentError(fmt::format("{}: unknown mode '{}'", from_node("mode"), r.mode));
  }

  if (job.bwlimit_kib)
    r.bwlimit_kib = *job.bwlimit_kib;
  else if (auto v = node.Get("bwlimit")) {
    ASSIGN_OR_RETURN(r.bwlimit_kib, ParseUint(*v, from_node("bwlimit"), UINT64_MAX / 1024));
  }
  if (job.tmpdir)
    r.tmpdir = *job.tmpdir;
  else if (auto v = node.Get("tmpdir"))
    r.tmpdir = *v;
  if (r.tmpdir.empty() || r.tmpdir[0] != '/')
    return InvalidArgumentError(fmt::format("tmpdir '{}' must be an absolute path", r.tmpdir));
  if (job.script)
    r.script = *job.script;
  else if (auto v = node.Get("script"))
    r.script = *v;
  if (!r.script.empty() && !sys::PathExists(r.script))
    return InvalidArgumentError(fmt::format("hook script '{}' does not exist", r.script));
  if (job.lockwait_minutes)
    r.lockwait_minutes = *job.lockwait_minutes;
  else if (auto v = node.Get("lockwait")) {
    ASSIGN_OR_RETURN(uint64_t n, ParseUint(*v, from_node("lockwait"), 1000000));
    r.lockwait_minutes = static_cast<uint32_t>(n);
  }
  if (job.stopwait_minutes)
    r.stopwait_minutes = *job.stopwait_minutes;
  else if (auto v = node.Get("stopwait")) {
    ASSIGN_OR_RETURN(uint64_t n, ParseUint(*v, from_node("stopwait"), 1000000));
    r.stopwait_minutes = static_cast<uint32_t>(n);
  }

  for (std::string m : job.include_mounts) {
    while (m.size() > 1 && m.back() == '/') m.pop_back();
    if (m.empty() || m[0] != '/' || m == "/")
      return InvalidArgumentError(fmt::format(
          "--include-mount '{}': give the mount point's absolute path inside the container", m));
    r.include_mounts.push_back(m);
  }
  if (job.compress)
    r.compress = *job.compress;
  else if (auto v = node.Get("compress"))
    r.compress = *v;
  if (r.compress) {
    auto c = NormalizeCompress(*r.compress);
    if (!c.ok())
      return c.status().WithContext(job.compress ? std::string("--compress")
                                                 : from_node("compress"));
    r.compress = *c;
  }
  r.force_full = job.force_full;
  if (job.zstd_threads)
    r.zstd_threads = *job.zstd_threads;
  else if (auto v = node.Get("zstd")) {
    ASSIGN_OR_RETURN(uint64_t n, ParseUint(*v, from_node("zstd"), 256));
    r.zstd_threads = static_cast<uint32_t>(n);
  }
  if (job.notes_template)
    r.notes_template = *job.notes_template;
  else if (auto v = node.Get("notes-template"))
    r.notes_template = *v;
  RETURN_IF_ERROR(ValidateNotesTemplate(r.notes_template));
  if (job.is_protected)
    r.is_protected = *job.is_protected;
  else if (auto v = node.Get("protected")) {
    ASSIGN_OR_RETURN(r.is_protected, ParseBool(*v, from_node("protected")));
  }
  RETURN_IF_ERROR(ResolveRetention(job, node, from_node, &r));
  if (job.remove)
    r.remove = *job.remove;
  else if (auto v = node.Get("remove")) {
    ASSIGN_OR_RETURN(r.remove, ParseBool(*v, from_node("remove")));
  }
  if (job.ionice) {
    if (*job.ionice > 8)
      return InvalidArgumentError(fmt::format("--ionice: {} is larger than 8", *job.ionice));
    r.ionice = *job.ionice;
  } else if (auto v = node.Get("ionice")) {
    ASSIGN_OR_RETURN(uint64_t n, ParseUint(*v, from_node("ionice"), 8));
    r.ionice = static_cast<uint32_t>(n);
  }
  if (job.quiet)
    r.quiet = *job.quiet;
  else if (auto v = node.Get("quiet")) {
    ASSIGN_OR_RETURN(r.quiet, ParseBool(*v, from_node("quiet")));
  }
  if (job.node)
    r.node = *job.node;
  else if (auto v = node.Get("node"))
    r.node = *v;

  bool std_ex = true;
  if (job.stdexcludes)
    std_ex = *job.stdexcludes;
  else if (auto v = node.Get("stdexcludes")) {
    ASSIGN_OR_RETURN(std_ex, ParseBool(*v, from_node("stdexcludes")));
  }
  r.exclude_patterns = node.exclude_paths;
  r.exclude_patterns.insert(r.exclude_patterns.end(), job.exclude_paths.begin(),
                            job.exclude_paths.end());
  if (std_ex) {
    const auto& std_list = StandardExcludes();
    r.exclude_patterns.insert(r.exclude_patterns.end(), std_list.begin(), std_list.end());
  }
  auto matcher = ExcludeMatcher::Create(r.exclude_patterns);
  if (!matcher.ok()) return matcher.status().WithContext("exclude-path");
  return r;
}

}  // namespace ctdump::backup
