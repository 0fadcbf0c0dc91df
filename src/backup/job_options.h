// Options of a backup job, with vzdump's names, units and defaults.
//
// Values come from the command line and, for anything not given there, from
// <config-dir>/ctdump.conf (vzdump.conf syntax). exclude-path lists are
// concatenated: node defaults first, then the job's.
//
// JobOptionTable() lists every option once: vzdump's name, its ctdump.conf
// key, its `ctdump backup` flag, its type and limits, its default and how the
// command line, ctdump.conf and the storage combine. ResolveJobOptions walks
// that table in order; a new option is a new row (and a field in JobOptions
// and ResolvedJobOptions), not new resolution code.
#ifndef CTDUMP_BACKUP_JOB_OPTIONS_H_
#define CTDUMP_BACKUP_JOB_OPTIONS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/prune.h"
#include "ctdump/status.h"
#include "ctdump/vzdump_conf.h"

namespace ctdump::backup {

// Where ctdump keeps its state; tests point all of it at a temporary root.
struct Paths {
  std::string lxcpath = "/var/lib/lxc";     // --lxcpath; the CLI's default is LXC's lxc.lxcpath
  std::string config_dir = "/etc/ctdump";   // --config-dir
  std::string log_dir = "/var/log/ctdump";  // env CTDUMP_LOG_DIR
  std::string run_dir = "/run/ctdump";      // env CTDUMP_RUN_DIR: locks, job mounts
  // env CTDUMP_STATE_DIR: what outlives a run: the scheduler's job states
  // (jobs/), each container's last backup result (guests/)
  std::string state_dir = "/var/lib/ctdump";
};

struct JobOptions {
  // Containers, in the order given; each element may be a PVE vmid list
  // ("web,db", "web db"): see SplitGuestList.
  std::vector<std::string> vmids;
  bool all = false;                    // --all: every container under lxcpath
  std::vector<std::string> exclude;    // --exclude (with --all), vmid lists as `vmids`
  std::optional<std::string> storage;  // --storage (required after defaults)
  std::optional<std::string> mode;     // snapshot (default, falls back to suspend) | suspend | stop
  std::vector<std::string> exclude_paths;     // --exclude-path, job's own
  std::vector<std::string> include_mounts;    // --include-mount /path: back up this bind mount too
  std::optional<bool> stdexcludes;            // default true
  std::optional<uint64_t> bwlimit_kib;        // KiB/s, 0 = unlimited
  std::optional<std::string> tmpdir;          // default /var/tmp
  std::optional<std::string> script;          // hook script
  std::optional<uint32_t> lockwait_minutes;   // default 180
  std::optional<uint32_t> stopwait_minutes;   // default 10
  std::optional<std::string> compress;        // zstd | gzip | none (built-in dir storage)
  std::optional<uint32_t> zstd_threads;       // --zstd N, 0 = half the cores
  bool force_full = false;                    // --force-full (datastore storage)
  std::optional<std::string> notes_template;  // {{guestname}} {{node}} {{vmid}} {{cluster}}
  std::optional<bool> is_protected;           // --protected
  std::optional<std::string> prune_backups;   // "keep-last=3,keep-daily=7"
  std::optional<uint32_t> maxfiles;           // deprecated: keep-last=N (0: keep-all)
  std::optional<bool> remove;                 // default true: prune after the backup
  std::optional<uint32_t> ionice;             // 0-7 best-effort level, 8 idle; default 7
  std::optional<bool> quiet;                  // default false: only warnings and errors shown
  std::optional<std::string> dumpdir;         // write to this directory instead of a storage
  std::optional<std::string> node;            // run only on this node (short host name)
  std::string command_line;                   // logged as "starting new backup job: <command_line>"
};

// Fully resolved options.
struct ResolvedJobOptions {
  std::vector<std::string> vmids;
  std::string storage;  // empty with `dumpdir`
  // vzdump's dumpdir: archives go into this directory (the built-in dir
  // layout without a storage); exclusive with `storage`.
  std::string dumpdir;
  std::string mode = "snapshot";
  std::vector<std::string> exclude_patterns;  // node + job + standard excludes
  std::vector<std::string> include_mounts;    // container paths of bind mounts to include
  uint64_t bwlimit_kib = 0;
  std::string tmpdir = "/var/tmp";
  std::string script;
  uint32_t lockwait_minutes = 180;
  uint32_t stopwait_minutes = 10;
  std::optional<std::string> compress;  // validated; nullopt: the storage's
  std::optional<uint32_t> zstd_threads;
  bool force_full = false;
  std::string notes_template;
  bool is_protected = false;
  // vzdump's order: --prune-backups (or --maxfiles), then the storage's
  // prune-backups, then ctdump.conf's (node_prune), else keep-all.
  std::optional<PruneOptions> prune;       // the command line's
  std::optional<PruneOptions> node_prune;  // ctdump.conf's prune-backups or maxfiles
  bool remove = true;                      // false: no pruning after the backup (vzdump's remove 0)
  uint32_t ionice = 7;      // vzdump's ionice: best-effort class level 0-7, 8 = idle class
  bool quiet = false;       // the CLI shows only warnings and errors
  bool stdexcludes = true;  // the standard excludes are part of exclude_patterns
  std::string node;         // non-empty: the job runs only on the node of this name
  // Logged as warnings when the job starts; they do not fail it (ctdump.conf
  // keys that are ignored, maxfiles' deprecation, ...).
  std::vector<std::string> warnings;
  std::string command_line;
  std::string job_id;  // jobs.cfg id ("" from the CLI): recorded in each container's guest state
  // Problems with the selection that do not stop the job but fail it (exit
  // non-zero): an --exclude naming no container. The job logs them as warnings.
  std::vector<std::string> selection_warnings;
};

// ctdump.conf larger than this is refused.
inline constexpr size_t kMaxNodeDefaultsSize = 1 << 20;

// Reads <config_dir>/ctdump.conf; a missing file gives empty defaults.
// Anything but a regular file of at most kMaxNodeDefaultsSize (a FIFO, a
// device, a directory) is an error naming it.
Result<VzdumpConf> LoadNodeDefaults(const std::string& config_dir);

// vzdump's compress values: 0 and none -> "none", 1 and lzo -> "lzo", gzip,
// zstd; anything else is InvalidArgument.
Result<std::string> NormalizeCompress(const std::string& value);

// PVE's split_list (pve-vmid-list): every argument is split at commas,
// semicolons and white space; empty pieces are dropped.
std::vector<std::string> SplitGuestList(const std::vector<std::string>& args);

// Applies node defaults, validates every value (errors name the option and
// where it came from) and expands --all against the containers of `lxcpath`.
// A wrong option value is InvalidArgument (a usage error); an empty selection
// (--all on an lxcpath without containers, or everything excluded) is
// FailedPrecondition; an --exclude naming no container is a selection warning.
Result<ResolvedJobOptions> ResolveJobOptions(const JobOptions& job, const VzdumpConf& node,
                                             const std::string& node_file,
                                             const std::string& lxcpath);

// vzdump's order of retention: the command line's (prune-backups or
// maxfiles), else the storage's prune-backups (`storage`), else ctdump.conf's,
// else keep-all.
PruneOptions EffectiveRetention(const ResolvedJobOptions& r,
                                const std::optional<PruneOptions>& storage);

// How an option's sources combine, highest first.
enum class OptionPrecedence {
  kCommandLineOnly,      // only the command line sets it
  kCommandLineThenConf,  // the command line's, else ctdump.conf's, else the default
  // The command line's, else ctdump.conf's, else the storage's own setting
  // (applied by the storage's provider), else the provider's default.
  kCommandLineThenConfThenStorage,
  kConfThenCommandLine,  // a list: ctdump.conf's entries first, then the command line's
  // storage / dumpdir: at most one on the command line; else ctdump.conf's
  // (its storage wins over its dumpdir, with a warning); one is required.
  kStorageOrDumpdir,
  // prune-backups / maxfiles: EffectiveRetention's order; the two conflict on
  // the command line, and ctdump.conf's maxfiles is ignored beside its
  // prune-backups (a warning).
  kRetention,
};

enum class OptionType {
  kFlag,    // a flag without value (--all)
  kBool,    // 0|1 (ctdump.conf also takes yes/no, on/off, true/false)
  kUint,    // a non-negative integer of at most JobOptionSpec::max
  kString,  // text (some are checked: mode, compress, tmpdir, script, ...)
  kList,    // repeatable; each value one item
};

// What a row's resolver sees.
struct JobOptionInputs {
  const JobOptions& job;
  const VzdumpConf& node;
  const std::string& node_file;  // ctdump.conf's path, for messages
  const std::string& lxcpath;    // for --all
  // "<file>:<line>: <key>", naming where ctdump.conf set `key`.
  std::string FromNode(std::string_view key) const;
};

// One job option.
struct JobOptionSpec {
  std::string_view name;      // vzdump's option name (include-mount, force-full: ctdump's own)
  std::string_view conf_key;  // its key in ctdump.conf; empty: not settable there
  std::string_view flag;      // its `ctdump backup` flag; "vmid": the positional arguments
  OptionType type = OptionType::kString;
  uint64_t max = 0;  // kUint: the largest value taken from either source
  // The resolved value (as `show` prints it) when no source sets the option;
  // empty: none.
  std::string_view default_value;
  OptionPrecedence precedence = OptionPrecedence::kCommandLineThenConf;
  // Non-empty: this option is resolved together with the row of that name
  // (and `resolve` is empty).
  std::string_view resolved_with;
  // Resolves the option into `r`; errors name the option and its source.
  std::function<Status(const JobOptionInputs&, ResolvedJobOptions*)> resolve;
  // Sets the command line's value from text, as the CLI parses it.
  std::function<Status(JobOptions*, const std::string&)> set_cli;
  // The resolved value as text; empty for rows resolved with another one.
  std::function<std::string(const ResolvedJobOptions&)> show;
};

// Every option of a backup job, in the order ResolveJobOptions resolves
// them (that order decides which error is reported when several are wrong).
const std::vector<JobOptionSpec>& JobOptionTable();

// jobs.cfg: sets the option `name` (a JobOptionTable row's vzdump name) of
// `job` from its text, checking the value as far as that needs no other
// option, ctdump.conf or the host: booleans (0|1), numbers and their limits,
// mode, compress, prune-backups, notes-template, exclude-path (shell words as
// in ctdump.conf, each a valid pattern), absolute tmpdir / dumpdir /
// include-mount. NotFound for a name that is no row; InvalidArgument
// "<name>: <why>" for a bad value.
Status SetJobOptionText(JobOptions* job, std::string_view name, const std::string& value);

// Names of the containers defined under `lxcpath` (directories with a
// `config` file), sorted.
Result<std::vector<std::string>> ListContainers(const std::string& lxcpath);

}  // namespace ctdump::backup

#endif  // CTDUMP_BACKUP_JOB_OPTIONS_H_
