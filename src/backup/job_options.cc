#include "backup/job_options.h"

#include <fcntl.h>
#include <fmt/format.h>

#include <algorithm>
#include <type_traits>

#include "backup/retention.h"
#include "ctdump/exclude.h"
#include "ctdump/section_config.h"
#include "sys/dir_list.h"
#include "sys/file.h"
#include "sys/unique_fd.h"

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
  if (std::optional<bool> b = ParsePveBool(v)) return *b;
  return InvalidArgumentError(fmt::format("{}: '{}' is not a boolean (0 or 1)", what, v));
}

bool Contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : ",") + x;
  return out;
}

// Text <-> value for the scalar types of the table: the parse of a
// ctdump.conf value (errors naming `what`) and the text `show` gives.
template <typename T>
struct Conv;

template <>
struct Conv<std::string> {
  static Result<std::string> Parse(const std::string& v, const std::string&, uint64_t) { return v; }
  static std::string Show(const std::string& v) { return v; }
};

template <>
struct Conv<bool> {
  static Result<bool> Parse(const std::string& v, const std::string& what, uint64_t) {
    return ParseBool(v, what);
  }
  static std::string Show(bool v) { return v ? "1" : "0"; }
};

template <typename U>
requires std::is_unsigned_v<U>
struct Conv<U> {
  static Result<U> Parse(const std::string& v, const std::string& what, uint64_t max) {
    ASSIGN_OR_RETURN(uint64_t n, ParseUint(v, what, max));
    return static_cast<U>(n);
  }
  static std::string Show(U v) { return fmt::format("{}", v); }
};

template <typename T>
std::string ShowValue(const T& v) {
  return Conv<T>::Show(v);
}

template <typename T>
std::string ShowValue(const std::optional<T>& v) {
  return v ? ShowValue(*v) : std::string();
}

// A row's identity: the fields every row has.
JobOptionSpec Row(std::string_view name, std::string_view conf_key, std::string_view flag,
                  OptionType type, OptionPrecedence precedence) {
  JobOptionSpec spec;
  spec.name = name;
  spec.conf_key = conf_key;
  spec.flag = flag;
  spec.type = type;
  spec.precedence = precedence;
  return spec;
}

// What a scalar row does beyond "the command line's, else ctdump.conf's,
// else the default".
struct ScalarRules {
  uint64_t max = 0;  // kUint
  // Strings: maps a given value to the one kept; its error is prefixed with
  // where the value came from ("--mode: ...", "ctdump.conf:2: mode: ...").
  std::function<Result<std::string>(const std::string&)> normalize;
  // Checks the resolved options once this row is done (its error as is).
  std::function<Status(const ResolvedJobOptions&)> check;
  OptionPrecedence precedence = OptionPrecedence::kCommandLineThenConf;
};

// A row whose value is given by `cli` on the command line or `key` in
// ctdump.conf and lands in `out`.
template <typename T, typename Out>
JobOptionSpec Scalar(std::string_view key, std::string_view flag, std::optional<T> JobOptions::*cli,
                     Out ResolvedJobOptions::*out, std::string_view default_value,
                     ScalarRules rules = {}) {
  OptionType type = std::is_same_v<T, bool>          ? OptionType::kBool
                    : std::is_same_v<T, std::string> ? OptionType::kString
                                                     : OptionType::kUint;
  uint64_t max = rules.max;
  JobOptionSpec spec = Row(key, key, flag, type, rules.precedence);
  spec.max = max;
  spec.default_value = default_value;
  spec.resolve = [=](const JobOptionInputs& in, ResolvedJobOptions* r) -> Status {
    std::optional<T> value;
    std::string where;
    if (in.job.*cli) {
      value = *(in.job.*cli);
      where = std::string(flag);
      if constexpr (std::is_unsigned_v<T> && !std::is_same_v<T, bool>) {
        if (*value > max)
          return InvalidArgumentError(fmt::format("{}: {} is larger than {}", flag, *value, max));
      }
    } else if (auto text = in.node.Get(key)) {
      where = in.FromNode(key);
      ASSIGN_OR_RETURN(value, Conv<T>::Parse(*text, where, max));
    }
    if (value) {
      if constexpr (std::is_same_v<T, std::string>) {
        if (rules.normalize) {
          auto n = rules.normalize(*value);
          if (!n.ok()) return n.status().WithContext(where);
          value = *n;
        }
      }
      r->*out = *value;
    }
    if (rules.check) RETURN_IF_ERROR(rules.check(*r));
    return Status::OK();
  };
  spec.set_cli = [=](JobOptions* job, const std::string& text) -> Status {
    ASSIGN_OR_RETURN(job->*cli, Conv<T>::Parse(text, std::string(flag), max));
    return Status::OK();
  };
  spec.show = [=](const ResolvedJobOptions& r) { return ShowValue(r.*out); };
  return spec;
}

// A row resolved by the row named `with`.
JobOptionSpec With(std::string_view name, std::string_view conf_key, std::string_view flag,
                   OptionType type, std::string_view with, OptionPrecedence precedence,
                   std::function<Status(JobOptions*, const std::string&)> set_cli,
                   uint64_t max = 0) {
  JobOptionSpec spec = Row(name, conf_key, flag, type, precedence);
  spec.max = max;
  spec.resolved_with = with;
  spec.set_cli = std::move(set_cli);
  return spec;
}

ScalarRules Limit(uint64_t max,
                  OptionPrecedence precedence = OptionPrecedence::kCommandLineThenConf) {
  ScalarRules rules;
  rules.max = max;
  rules.precedence = precedence;
  return rules;
}

ScalarRules Normalized(std::function<Result<std::string>(const std::string&)> normalize,
                       OptionPrecedence precedence = OptionPrecedence::kCommandLineThenConf) {
  ScalarRules rules;
  rules.normalize = std::move(normalize);
  rules.precedence = precedence;
  return rules;
}

ScalarRules Checked(std::function<Status(const ResolvedJobOptions&)> check) {
  ScalarRules rules;
  rules.check = std::move(check);
  return rules;
}

Result<std::string> CheckMode(const std::string& m) {
  if (m == "stop" || m == "suspend" || m == "snapshot") return m;
  return InvalidArgumentError(fmt::format("unknown mode '{}'", m));
}

// vmid, --all and --exclude: the containers, in the order given.
Status ResolveSelection(const JobOptionInputs& in, ResolvedJobOptions* r) {
  const JobOptions& job = in.job;
  const std::string& lxcpath = in.lxcpath;
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
    // A restore test's throw-away container (src/restore/test_restore.h:
    // ctdump-rt-<pid>-<n>), e.g. one left by a SIGKILLed test, is no guest.
    std::erase_if(all, [](const std::string& ct) { return ct.starts_with("ctdump-rt-"); });
    if (all.empty())
      return FailedPreconditionError(
          fmt::format("--all: no containers in lxcpath \"{}\": nothing to back up", lxcpath));
    for (size_t i = 0; i < exclude.size(); ++i)
      if (!Contains(all, exclude[i]) &&
          std::find(exclude.begin(), exclude.begin() + i, exclude[i]) == exclude.begin() + i)
        r->selection_warnings.push_back(fmt::format(
            "--exclude: no container named '{}' in lxcpath \"{}\"", exclude[i], lxcpath));
    for (auto& ct : all)
      if (!Contains(exclude, ct)) r->vmids.push_back(ct);
    if (r->vmids.empty())
      return FailedPreconditionError(fmt::format(
          "--all: every container in lxcpath \"{}\" is excluded: nothing to back up", lxcpath));
    return Status::OK();
  }
  if (vmids.empty()) return InvalidArgumentError("no container given (name one or use --all)");
  for (const auto& ct : vmids)
    if (!Contains(r->vmids, ct)) r->vmids.push_back(ct);
  return Status::OK();
}

// storage and dumpdir (vzdump: ctdump.conf's count only when neither is given).
Status ResolveTarget(const JobOptionInputs& in, ResolvedJobOptions* r) {
  const JobOptions& job = in.job;
  if (job.storage && job.dumpdir)
    return InvalidArgumentError("cannot use options 'storage' and 'dumpdir' at the same time");
  if (job.storage) {
    r->storage = *job.storage;
  } else if (job.dumpdir) {
    r->dumpdir = *job.dumpdir;
  } else {
    auto s = in.node.Get("storage"), d = in.node.Get("dumpdir");
    if (s && d)
      r->warnings.push_back(fmt::format(
          "both 'storage' and 'dumpdir' defined in '{}' - ignoring 'dumpdir'", in.node_file));
    if (s)
      r->storage = *s;
    else if (d)
      r->dumpdir = *d;
  }
  if (r->storage.empty() && r->dumpdir.empty())
    return InvalidArgumentError("no storage given (--storage or 'storage' in ctdump.conf)");
  if (!r->dumpdir.empty()) {
    while (r->dumpdir.size() > 1 && r->dumpdir.back() == '/') r->dumpdir.pop_back();
    if (r->dumpdir[0] != '/')
      return InvalidArgumentError(fmt::format("dumpdir '{}' must be an absolute path", r->dumpdir));
  }
  return Status::OK();
}

Status ResolveIncludeMounts(const JobOptionInputs& in, ResolvedJobOptions* r) {
  for (std::string m : in.job.include_mounts) {
    while (m.size() > 1 && m.back() == '/') m.pop_back();
    if (m.empty() || m[0] != '/' || m == "/")
      return InvalidArgumentError(fmt::format(
          "--include-mount '{}': give the mount point's absolute path inside the container", m));
    r->include_mounts.push_back(m);
  }
  return Status::OK();
}

// Retention: --prune-backups or --maxfiles into `prune`, ctdump.conf's
// prune-backups or maxfiles into `node_prune` (vzdump: maxfiles N is
// keep-last=N, 0 keep-all; deprecated, and ignored beside prune-backups).
Status ResolveRetention(const JobOptionInputs& in, ResolvedJobOptions* r) {
  const JobOptions& job = in.job;
  const VzdumpConf& node = in.node;
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
  if (maxfiles) r->warnings.push_back(fmt::format("{}: {}", in.FromNode("maxfiles"), kDeprecated));
  if (auto v = node.Get("prune-backups")) {
    if (maxfiles)
      r->warnings.push_back(fmt::format(
          "both 'maxfiles' and 'prune-backups' defined as options in '{}' - ignoring 'maxfiles'",
          node.filename));
    auto p = ParsePruneOptions(*v);
    if (!p.ok()) return p.status().WithContext(in.FromNode("prune-backups"));
    r->node_prune = *p;
  } else if (maxfiles) {
    ASSIGN_OR_RETURN(uint64_t n, ParseUint(*maxfiles, in.FromNode("maxfiles"), UINT32_MAX));
    r->node_prune = from_maxfiles(n);
  }
  return Status::OK();
}

// ctdump.conf's exclude-path entries, then the job's, then (stdexcludes) the
// standard ones; every pattern must compile.
Status ResolveExcludePaths(const JobOptionInputs& in, ResolvedJobOptions* r) {
  r->exclude_patterns = in.node.exclude_paths;
  r->exclude_patterns.insert(r->exclude_patterns.end(), in.job.exclude_paths.begin(),
                             in.job.exclude_paths.end());
  if (r->stdexcludes) {
    const auto& std_list = StandardExcludes();
    r->exclude_patterns.insert(r->exclude_patterns.end(), std_list.begin(), std_list.end());
  }
  auto matcher = ExcludeMatcher::Create(r->exclude_patterns);
  if (!matcher.ok()) return matcher.status().WithContext("exclude-path");
  return Status::OK();
}

// set_cli for the options without a scalar field.
auto AppendTo(std::vector<std::string> JobOptions::*list) {
  return [list](JobOptions* job, const std::string& text) -> Status {
    (job->*list).push_back(text);
    return Status::OK();
  };
}

auto SetString(std::optional<std::string> JobOptions::*field) {
  return [field](JobOptions* job, const std::string& text) -> Status {
    job->*field = text;
    return Status::OK();
  };
}

auto SetFlag(bool JobOptions::*flag) {
  return [flag](JobOptions* job, const std::string& text) -> Status {
    ASSIGN_OR_RETURN(job->*flag, ParseBool(text, "flag"));
    return Status::OK();
  };
}

std::vector<JobOptionSpec> MakeTable() {
  using P = OptionPrecedence;
  using T = OptionType;
  using J = JobOptions;
  using R = ResolvedJobOptions;
  std::vector<JobOptionSpec> t;

  JobOptionSpec vmid = Row("vmid", "", "vmid", T::kList, P::kCommandLineOnly);
  vmid.resolve = ResolveSelection;
  vmid.set_cli = AppendTo(&J::vmids);
  vmid.show = [](const R& r) { return Join(r.vmids); };
  t.push_back(std::move(vmid));
  t.push_back(With("all", "", "--all", T::kFlag, "vmid", P::kCommandLineOnly, SetFlag(&J::all)));
  t.push_back(With("exclude", "", "--exclude", T::kList, "vmid", P::kCommandLineOnly,
                   AppendTo(&J::exclude)));

  JobOptionSpec storage = Row("storage", "storage", "--storage", T::kString, P::kStorageOrDumpdir);
  storage.resolve = ResolveTarget;
  storage.set_cli = SetString(&J::storage);
  storage.show = [](const R& r) { return r.storage; };
  t.push_back(std::move(storage));
  t.push_back(With("dumpdir", "dumpdir", "--dumpdir", T::kString, "storage", P::kStorageOrDumpdir,
                   SetString(&J::dumpdir)));

  t.push_back(Scalar("mode", "--mode", &J::mode, &R::mode, "snapshot", Normalized(CheckMode)));
  t.push_back(Scalar("bwlimit", "--bwlimit", &J::bwlimit_kib, &R::bwlimit_kib, "0",
                     Limit(UINT64_MAX / 1024)));
  t.push_back(Scalar("tmpdir", "--tmpdir", &J::tmpdir, &R::tmpdir, "/var/tmp",
                     Checked([](const R& r) -> Status {
                       if (r.tmpdir.empty() || r.tmpdir[0] != '/')
                         return InvalidArgumentError(
                             fmt::format("tmpdir '{}' must be an absolute path", r.tmpdir));
                       return Status::OK();
                     })));
  t.push_back(Scalar(
      "script", "--script", &J::script, &R::script, "", Checked([](const R& r) -> Status {
        if (!r.script.empty() && !sys::PathExists(r.script))
          return InvalidArgumentError(fmt::format("hook script '{}' does not exist", r.script));
        return Status::OK();
      })));
  t.push_back(Scalar("lockwait", "--lockwait", &J::lockwait_minutes, &R::lockwait_minutes, "180",
                     Limit(1000000)));
  t.push_back(Scalar("stopwait", "--stopwait", &J::stopwait_minutes, &R::stopwait_minutes, "10",
                     Limit(1000000)));

  JobOptionSpec include =
      Row("include-mount", "", "--include-mount", T::kList, P::kCommandLineOnly);
  include.resolve = ResolveIncludeMounts;
  include.set_cli = AppendTo(&J::include_mounts);
  include.show = [](const R& r) { return Join(r.include_mounts); };
  t.push_back(std::move(include));

  t.push_back(Scalar("compress", "--compress", &J::compress, &R::compress, "",
                     Normalized(NormalizeCompress, P::kCommandLineThenConfThenStorage)));

  JobOptionSpec full = Row("force-full", "", "--force-full", T::kFlag, P::kCommandLineOnly);
  full.default_value = "0";
  full.resolve = [](const JobOptionInputs& in, R* r) -> Status {
    r->force_full = in.job.force_full;
    return Status::OK();
  };
  full.set_cli = SetFlag(&J::force_full);
  full.show = [](const R& r) { return ShowValue(r.force_full); };
  t.push_back(std::move(full));

  t.push_back(Scalar("zstd", "--zstd", &J::zstd_threads, &R::zstd_threads, "",
                     Limit(256, P::kCommandLineThenConfThenStorage)));
  t.push_back(Scalar("notes-template", "--notes-template", &J::notes_template, &R::notes_template,
                     "",
                     Checked([](const R& r) { return ValidateNotesTemplate(r.notes_template); })));
  t.push_back(Scalar("protected", "--protected", &J::is_protected, &R::is_protected, "0"));

  JobOptionSpec prune =
      Row("prune-backups", "prune-backups", "--prune-backups", T::kString, P::kRetention);
  prune.default_value = "keep-all=1";
  prune.resolve = ResolveRetention;
  prune.set_cli = SetString(&J::prune_backups);
  prune.show = [](const R& r) { return EffectiveRetention(r, std::nullopt).ToString(); };
  t.push_back(std::move(prune));
  t.push_back(With(
      "maxfiles", "maxfiles", "--maxfiles", T::kUint, "prune-backups", P::kRetention,
      [](J* j, const std::string& v) -> Status {
        ASSIGN_OR_RETURN(j->maxfiles, Conv<uint32_t>::Parse(v, "--maxfiles", 1000000));
        return Status::OK();
      },
      1000000));

  t.push_back(Scalar("remove", "--remove", &J::remove, &R::remove, "1"));
  t.push_back(Scalar("ionice", "--ionice", &J::ionice, &R::ionice, "7", Limit(8)));
  t.push_back(Scalar("quiet", "--quiet", &J::quiet, &R::quiet, "0"));
  t.push_back(Scalar("node", "--node", &J::node, &R::node, ""));
  t.push_back(Scalar("stdexcludes", "--stdexcludes", &J::stdexcludes, &R::stdexcludes, "1"));

  JobOptionSpec paths =
      Row("exclude-path", "exclude-path", "--exclude-path", T::kList, P::kConfThenCommandLine);
  paths.default_value = "/tmp/?*,/var/tmp/?*,/var/run/?*.pid";  // stdexcludes 1
  paths.resolve = ResolveExcludePaths;
  paths.set_cli = AppendTo(&J::exclude_paths);
  paths.show = [](const R& r) { return Join(r.exclude_patterns); };
  t.push_back(std::move(paths));
  return t;
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
  std::string what = fmt::format("lxcpath \"{}\"", lxcpath);
  sys::UniqueFd dir(::open(lxcpath.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return ErrnoError(errno, "Failed to list " + what);
  // A readdir error fails the listing: --all must never skip a container.
  std::vector<std::string> out;
  RETURN_IF_ERROR(sys::VisitDirectoryAt(dir.get(), what, [&](std::string_view n, unsigned char) {
    std::string name(n);
    if (sys::PathExists(lxcpath + "/" + name + "/config")) out.push_back(name);
    return true;
  }));
  std::sort(out.begin(), out.end());
  return out;
}

std::string JobOptionInputs::FromNode(std::string_view key) const {
  std::string where = node.filename.empty() ? node_file : node.Where(key);
  return fmt::format("{}: {}", where, key);
}

PruneOptions EffectiveRetention(const ResolvedJobOptions& r,
                                const std::optional<PruneOptions>& storage) {
  if (r.prune) return *r.prune;
  if (storage) return *storage;
  return r.node_prune.value_or(PruneOptions());
}

Status SetJobOptionText(JobOptions* job, std::string_view name, const std::string& value) {
  const JobOptionSpec* spec = nullptr;
  for (const JobOptionSpec& s : JobOptionTable())
    if (s.name == name) spec = &s;
  if (!spec) return NotFoundError(fmt::format("unknown option '{}'", name));
  std::string what(name);
  auto absolute = [&]() -> Status {
    if (value.empty() || value[0] != '/')
      return InvalidArgumentError(fmt::format("{}: '{}' must be an absolute path", what, value));
    return Status::OK();
  };
  switch (spec->type) {
    case OptionType::kFlag:
    case OptionType::kBool: {
      ASSIGN_OR_RETURN(bool b, ParseBool(value, what));
      return spec->set_cli(job, b ? "1" : "0");
    }
    case OptionType::kUint: {
      ASSIGN_OR_RETURN(uint64_t n, ParseUint(value, what, spec->max));
      return spec->set_cli(job, fmt::format("{}", n));
    }
    case OptionType::kList: {
      if (name == "exclude-path") {
        auto words = SplitShellWords(value);
        if (!words.ok()) return words.status().WithContext(what);
        for (const std::string& w : *words) {
          if (w.empty()) return InvalidArgumentError(what + ": empty path");
          auto matcher = ExcludeMatcher::Create({w});
          if (!matcher.ok()) return matcher.status().WithContext(what);
          RETURN_IF_ERROR(spec->set_cli(job, w));
        }
        return Status::OK();
      }
      if (name == "include-mount") RETURN_IF_ERROR(absolute());
      if (SplitGuestList({value}).empty())
        return InvalidArgumentError(fmt::format("{}: '{}' names nothing", what, value));
      return spec->set_cli(job, value);
    }
    case OptionType::kString:
      break;
  }
  Status check;
  if (name == "mode") {
    check = CheckMode(value).status();
  } else if (name == "compress") {
    check = NormalizeCompress(value).status();
  } else if (name == "prune-backups") {
    check = ParsePruneOptions(value).status();
  } else if (name == "notes-template") {
    check = ValidateNotesTemplate(value);
  } else if (name == "tmpdir" || name == "dumpdir") {
    RETURN_IF_ERROR(absolute());
  } else if (value.empty()) {
    check = InvalidArgumentError("empty value");
  }
  if (!check.ok()) return check.WithContext(what);
  return spec->set_cli(job, value);
}

const std::vector<JobOptionSpec>& JobOptionTable() {
  static const std::vector<JobOptionSpec> table = MakeTable();
  return table;
}

Result<ResolvedJobOptions> ResolveJobOptions(const JobOptions& job, const VzdumpConf& node,
                                             const std::string& node_file,
                                             const std::string& lxcpath) {
  ResolvedJobOptions r;
  r.command_line = job.command_line;
  r.warnings = node.warnings;
  JobOptionInputs in{job, node, node_file, lxcpath};
  for (const JobOptionSpec& spec : JobOptionTable())
    if (spec.resolve) RETURN_IF_ERROR(spec.resolve(in, &r));
  return r;
}

}  // namespace ctdump::backup
