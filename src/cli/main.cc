// ctdump: vzdump for plain LXC hosts, built around the Backup Provider API.
//
//   ctdump [global options] backup <ct>... | --all [--exclude <ct>...] --storage <id> [...]
//   ctdump [global options] list <storage> [--vmid <ct>]
//   ctdump [global options] delete <storage>:<volname>
//
// Exit codes (README "Exit codes"): 0 success, 1 a job or command failed,
// 2 usage error (unknown command or option, missing or invalid argument or
// option value, also a wrong value or unknown key in ctdump.conf).
#include <fmt/format.h>
#include <lxc/lxccontainer.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "backup/job.h"
#include "backup/job_options.h"
#include "backup/journal.h"
#include "backup/retention.h"
#include "backup/task_log.h"
#include "cli/datastore_commands.h"
#include "cli/renderer.h"
#include "cli/verify_command.h"
#include "ctdump/idmap.h"
#include "ctdump/version.h"
#include "registry/registry.h"
#include "restore/guest_config.h"
#include "restore/restore.h"
#include "restore/restore_journal.h"
#include "sys/file.h"
#include "sys/lock_file.h"
#include "sys/signals.h"

namespace ctdump::cli {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

// Our own checks of option values report InvalidArgument: a usage error.
int ExitCodeOf(const Status& s) {
  return s.code() == Code::kInvalidArgument ? kExitUsage : kExitFailed;
}

struct Globals {
  backup::Paths paths;
  std::string output_format = "text";
};

// LXC's own default: lxc.lxcpath from /etc/lxc/lxc.conf (for root; liblxc's
// built-in default without one), as lxc-ls and lxc-start use it.
std::string DefaultLxcPath() {
  const char* v = ::lxc_get_global_config_item("lxc.lxcpath");
  return v && *v ? v : "/var/lib/lxc";
}

std::unique_ptr<Renderer> MakeRenderer(const Globals& g) {
  if (g.output_format == "json") return MakeJsonRenderer();
  return MakeTextRenderer(::isatty(2));
}

std::string CommandLine(int argc, char** argv) {
  std::string s = "ctdump";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    s += " ";
    s += a.find_first_of(" \t'\"") == std::string::npos ? a : "'" + a + "'";
  }
  return s;
}

int RunBackup(const Globals& g, backup::JobOptions job) {
  auto renderer = MakeRenderer(g);
  if (::geteuid() != 0) {
    renderer->Log(LogLevel::kErr, "ctdump backup must run as root");
    return 1;
  }
  auto node = backup::LoadNodeDefaults(g.paths.config_dir);
  if (!node.ok()) {
    renderer->Log(LogLevel::kErr, node.status().message());
    return ExitCodeOf(node.status());
  }
  auto opts =
      backup::ResolveJobOptions(job, *node, g.paths.config_dir + "/ctdump.conf", g.paths.lxcpath);
  if (!opts.ok()) {
    renderer->Log(LogLevel::kErr, opts.status().message());
    return ExitCodeOf(opts.status());
  }
  renderer->SetQuiet(opts->quiet);
  if (!opts->node.empty()) {
    // vzdump's node: the job runs only on that node (PVE's nodename: the
    // host name up to the first dot).
    char host[256] = {};
    ::gethostname(host, sizeof(host) - 1);
    std::string nodename = host;
    nodename = nodename.substr(0, nodename.find('.'));
    if (opts->node != nodename) {
      renderer->Log(LogLevel::kInfo, fmt::format("skipping backup job: it is for node '{}', this "
                                                 "is node '{}'",
                                                 opts->node, nodename));
      return kExitOk;
    }
  }
  backup::JobResult result = backup::RunBackupJob(*opts, g.paths, renderer.get());
  renderer->JobEnd(result);
  return result.ok() ? kExitOk : kExitFailed;
}

// storage.cfg -> the provider of storage `id`.
Result<std::unique_ptr<Provider>> OpenConfigured(const Globals& g, const std::string& id,
                                                 Observer* observer) {
  ASSIGN_OR_RETURN(auto storages, registry::LoadStorageConfig(g.paths.config_dir));
  return registry::OpenStorage(storages, id, observer);
}

int RunList(const Globals& g, const std::string& storage, const std::string& vmid) {
  auto renderer = MakeRenderer(g);
  auto fail = [&](const Status& s) {
    renderer->Log(LogLevel::kErr, s.message());
    return 1;
  };
  auto p = OpenConfigured(g, storage, renderer.get());
  if (!p.ok()) return fail(p.status());
  auto list = (*p)->ListBackups(vmid.empty() ? std::nullopt : std::optional<std::string>(vmid));
  Status sh = (*p)->Shutdown();
  if (!list.ok()) return fail(list.status());
  if (g.output_format == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& b : *list) {
      out.push_back({{"volid", storage + ":" + b.volname},
                     {"vmid", b.vmid},
                     {"vmtype", b.vmtype},
                     {"ctime", b.ctime},
                     {"size", b.size ? nlohmann::json(*b.size) : nlohmann::json()},
                     {"notes", b.notes ? nlohmann::json(*b.notes) : nlohmann::json()},
                     {"protected", b.is_protected}});
    }
    // Never aborts: bytes that are not UTF-8 (a provider's names, notes) become U+FFFD.
    fmt::print("{}\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    fmt::print("{:<50} {:<8} {:>12} {}\n", "VOLID", "VMID", "SIZE", "FLAGS");
    for (const auto& b : *list)
      fmt::print("{:<50} {:<8} {:>12} {}\n", backup::EscapeControl(storage + ":" + b.volname),
                 backup::EscapeControl(b.vmid), b.size ? HumanBytes(*b.size) : "-",
                 b.is_protected ? "protected" : "");
  }
  if (!sh.ok()) renderer->Log(LogLevel::kWarn, sh.message());
  return 0;
}

int RunPrune(const Globals& g, const std::string& storage, const std::string& vmid,
             const std::string& opts_text, bool dry_run) {
  auto renderer = MakeRenderer(g);
  auto fail = [&](const Status& s) {
    renderer->Log(LogLevel::kErr, s.message());
    return 1;
  };
  auto storages = registry::LoadStorageConfig(g.paths.config_dir);
  if (!storages.ok()) return fail(storages.status());
  std::string text = opts_text;
  if (text.empty()) {
    for (const auto& s : *storages)
      if (s.id == storage && s.Get("prune-backups")) text = *s.Get("prune-backups");
  }
  auto opts = ParsePruneOptions(text);
  if (!opts.ok() && !opts_text.empty()) {
    renderer->Log(LogLevel::kErr, opts.status().WithContext("--prune-backups").message());
    return kExitUsage;
  }
  if (!opts.ok())
    return fail(opts.status().WithContext(fmt::format("storage '{}': prune-backups", storage)));
  if (opts->KeepsEverything()) {
    renderer->Log(LogLevel::kInfo, "retention keeps everything (keep-all): nothing to prune");
    return 0;
  }
  auto p = registry::OpenStorage(*storages, storage, renderer.get());
  if (!p.ok()) return fail(p.status());
  renderer->Log(LogLevel::kInfo, "retention: " + opts->ToString());
  auto n = backup::PruneGuest(**p, vmid, *opts, std::nullopt, dry_run, renderer.get());
  Status sh = (*p)->Shutdown();
  if (!n.ok()) return fail(n.status());
  renderer->Log(LogLevel::kInfo,
                fmt::format("{} {} backup(s)", dry_run ? "would prune" : "pruned", *n));
  if (!sh.ok()) renderer->Log(LogLevel::kWarn, sh.message());
  return 0;
}

int RunCleanup(const Globals& g) {
  auto renderer = MakeRenderer(g);
  // Under the global job lock: never race a job that is repairing too.
  auto warn = [&](const std::string& m) { renderer->Log(LogLevel::kWarn, m); };
  Status made = sys::MakeDirs(g.paths.run_dir, 0755);
  auto lock = made.ok() ? sys::LockFile::Acquire(g.paths.run_dir + "/ctdump.lock",
                                                 std::chrono::seconds(60), warn)
                        : Result<sys::LockFile>(made);
  if (!lock.ok()) {
    renderer->Log(LogLevel::kErr, lock.status().message());
    return 1;
  }
  auto n = backup::RepairAbandoned(g.paths.run_dir, renderer.get());
  auto r = restore::RepairAbandonedRestores(g.paths.run_dir, renderer.get());
  if (n.ok()) renderer->Log(LogLevel::kInfo, fmt::format("repaired {} interrupted backup(s)", *n));
  if (r.ok()) renderer->Log(LogLevel::kInfo, fmt::format("removed {} interrupted restore(s)", *r));
  for (const Status& s : {n.status(), r.status()})
    if (!s.ok()) renderer->Log(LogLevel::kErr, s.message());
  return n.ok() && r.ok() ? 0 : 1;
}

int RunDelete(const Globals& g, const std::string& volid) {
  auto renderer = MakeRenderer(g);
  auto colon = volid.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == volid.size()) {
    renderer->Log(LogLevel::kErr,
                  fmt::format("volume '{}' is not of the form <storage>:<volname>", volid));
    return kExitUsage;
  }
  std::string storage = volid.substr(0, colon), volname = volid.substr(colon + 1);
  auto p = OpenConfigured(g, storage, renderer.get());
  Status s = p.status();
  if (s.ok()) {
    s = (*p)->DeleteBackup(volname);
    Status sh = (*p)->Shutdown();
    if (s.ok()) s = sh;
  }
  if (!s.ok()) {
    renderer->Log(LogLevel::kErr, s.message());
    return 1;
  }
  renderer->Log(LogLevel::kInfo, fmt::format("removed backup '{}'", volid));
  return 0;
}

// The arguments of `restore` that are wrong whatever the archive holds (a
// usage error before anything is locked or read; RunRestore checks them too).
Status CheckRestoreArguments(const restore::RestoreOptions& o) {
  auto colon = o.volid.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == o.volid.size())
    return InvalidArgumentError(
        fmt::format("volume '{}' is not of the form <storage>:<volname>", o.volid));
  if (o.name.empty() || o.name.size() > 64 || o.name[0] == '.' || o.name[0] == '-' ||
      o.name.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != std::string::npos)
    return InvalidArgumentError(fmt::format(
        "invalid container name '{}' (letters, digits, '_', '.', '-'; at most 64)", o.name));
  if (!o.rootfs_dir.empty() && !o.rootfs_storage.empty())
    return InvalidArgumentError("give either --rootfs or --rootfs-storage, not both");
  if (!o.idmap.empty()) {
    auto map = IdMap::Parse(o.idmap, true);
    if (!map.ok()) return map.status().WithContext("--idmap");
  }
  if (!o.hostname.empty())
    RETURN_IF_ERROR(restore::CheckHostname(o.hostname).WithContext("--hostname"));
  return Status::OK();
}

int RunRestoreCmd(const Globals& g, const restore::RestoreOptions& o) {
  auto renderer = MakeRenderer(g);
  if (::geteuid() != 0) {
    renderer->Log(LogLevel::kErr, "ctdump restore must run as root");
    return 1;
  }
  Status usage = CheckRestoreArguments(o);
  if (!usage.ok()) {
    renderer->Log(LogLevel::kErr, usage.message());
    return kExitUsage;
  }
  restore::Paths paths{g.paths.lxcpath, g.paths.config_dir, g.paths.run_dir};
  Status s = restore::RunRestore(o, paths, renderer.get());
  if (!s.ok()) {
    renderer->Log(LogLevel::kErr, "restore failed - " + s.message());
    return 1;
  }
  return 0;
}

int Main(int argc, char** argv) {
  CLI::App app{"ctdump - consistent backups of LXC containers through backup providers"};
  app.fallthrough();
  app.require_subcommand(1);
  Globals g;
  g.paths.lxcpath = DefaultLxcPath();
  if (const char* v = std::getenv("CTDUMP_LOG_DIR")) g.paths.log_dir = v;
  if (const char* v = std::getenv("CTDUMP_RUN_DIR")) g.paths.run_dir = v;
  app.add_option("--lxcpath", g.paths.lxcpath,
                 "LXC container path (default: lxc.lxcpath of LXC's lxc.conf)")
      ->capture_default_str();
  app.add_option("--config-dir", g.paths.config_dir, "directory of storage.cfg and ctdump.conf")
      ->capture_default_str();
  app.add_option("--output-format", g.output_format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.set_version_flag("--version", Version());

  backup::JobOptions job;
  job.command_line = CommandLine(argc, argv);
  auto* b = app.add_subcommand("backup", "back up containers (vzdump)");
  b->add_option("vmid", job.vmids, "container names (also lists: a,b)");
  b->add_flag("--all", job.all, "back up every container under lxcpath");
  b->add_option("--exclude", job.exclude,
                "with --all: containers to skip (a list: a,b or 'a b'; repeatable)")
      ->allow_extra_args(false);
  b->add_option("--storage", job.storage, "storage id from storage.cfg");
  b->add_option("--mode", job.mode, "backup mode: snapshot (default), suspend or stop")
      ->check(CLI::IsMember({"stop", "suspend", "snapshot"}));
  b->add_option("--exclude-path", job.exclude_paths,
                "exclude files matching this glob (repeatable)")
      ->allow_extra_args(false);
  b->add_option("--include-mount", job.include_mounts,
                "also back up the bind mount at this path in the container (repeatable)")
      ->allow_extra_args(false);
  b->add_option("--stdexcludes", job.stdexcludes, "exclude temporary files (0|1, default 1)");
  b->add_option("--bwlimit", job.bwlimit_kib, "bandwidth limit in KiB/s (0 = unlimited)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 40));
  b->add_option("--tmpdir", job.tmpdir, "directory for temporary files (default /var/tmp)");
  b->add_option("--script", job.script, "hook script");
  b->add_option("--lockwait", job.lockwait_minutes, "minutes to wait for the global lock (180)")
      ->check(CLI::Range(0u, 1000000u));
  b->add_option("--stopwait", job.stopwait_minutes, "minutes to wait for a clean stop (10)")
      ->check(CLI::Range(0u, 1000000u));

  b->add_option("--compress", job.compress,
                "dir storage: 0 (none), 1 (lzo, as vzdump), gzip, lzo, zstd, none");
  b->add_option("--dumpdir", job.dumpdir, "write the archives into this directory (no storage)");
  b->add_option("--maxfiles", job.maxfiles, "deprecated: --prune-backups keep-last=N")
      ->check(CLI::Range(0u, 1000000u));
  b->add_option("--remove", job.remove, "prune by the retention after the backup (0|1, default 1)");
  b->add_option("--ionice", job.ionice, "I/O priority: 0-7 best effort, 8 idle (default 7)")
      ->check(CLI::Range(0u, 8u));
  b->add_option("--quiet", job.quiet, "show only warnings and errors (0|1)");
  b->add_option("--node", job.node, "run only on this node (host name)");
  b->add_option("--zstd", job.zstd_threads, "zstd threads, 0 = half the cores (default 1)")
      ->check(CLI::Range(0u, 256u));
  b->add_flag("--force-full", job.force_full,
              "datastore storage: read every file, ignoring the previous backup");
  b->add_option(
      "--notes-template", job.notes_template,
      "notes for the backup: {{guestname}} {{node}} {{vmid}} {{cluster}}, \\n for newlines");
  b->add_option("--protected", job.is_protected, "mark the backup protected (0|1)");
  b->add_option("--prune-backups", job.prune_backups,
                "retention, e.g. keep-last=3,keep-daily=7 (default: the storage's)");

  std::string prune_storage, prune_vmid, prune_opts;
  bool prune_dry_run = false;
  auto* pr = app.add_subcommand("prune", "remove old backups of a container by retention options");
  pr->add_option("storage", prune_storage, "storage id")->required();
  pr->add_option("vmid", prune_vmid, "container")->required();
  pr->add_option("--prune-backups", prune_opts, "retention (default: the storage's prune-backups)");
  pr->add_flag("--dry-run", prune_dry_run, "only show what would be removed");

  auto* cl = app.add_subcommand("cleanup",
                                "repair what a killed ctdump left: thaw/start containers, remove "
                                "snapshots and half-restored containers");

  std::string list_storage, list_vmid;
  auto* l = app.add_subcommand("list", "list backups on a storage");
  l->add_option("storage", list_storage, "storage id")->required();
  l->add_option("--vmid", list_vmid, "only this container's backups");

  std::string delete_volid;
  auto* d = app.add_subcommand("delete", "delete a backup");
  d->add_option("volume", delete_volid, "<storage>:<volname>")->required();

  restore::RestoreOptions ro;
  int unpriv = -1;
  auto* r = app.add_subcommand("restore", "restore a backup into a new container");
  r->add_option("volume", ro.volid, "<storage>:<volname>")->required();
  r->add_option("ct", ro.name, "name of the new container")->required();
  r->add_option(
       "--unprivileged", unpriv,
       "1: unprivileged, 0: privileged (default: as backed up; a privileged backup needs 0 or 1)")
      ->check(CLI::IsMember({0, 1}));
  r->add_option("--rootfs", ro.rootfs_dir,
                "root file system directory (default <lxcpath>/<ct>/rootfs)");
  r->add_option("--rootfs-storage", ro.rootfs_storage, "btrfs:<path>: a new subvolume <path>/<ct>");
  r->add_option("--idmap", ro.idmap, "ID map entry, e.g. \"u 0 200000 65536\" (repeatable)")
      ->allow_extra_args(false);
  r->add_option("--bwlimit", ro.bwlimit_kib, "bandwidth limit in KiB/s")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 40));
  r->add_flag("--force", ro.force, "overwrite existing files in an existing root file system");
  r->add_flag("--start", ro.start, "start the container after the restore");
  r->add_flag("--unique", ro.unique, "new random MAC addresses for the container's networks");
  r->add_option("--hostname", ro.hostname, "host name of the new container (default: as backed up)")
      ->check([](const std::string& v) {
        return v.empty()
                   ? std::string("--hostname must not be empty (leave it out to keep the backup's)")
                   : std::string();
      });

  auto* key = app.add_subcommand("key", "manage datastore encryption keys");
  key->require_subcommand(1);
  std::string key_path;
  auto* key_create = key->add_subcommand("create", "create a new encryption key file (mode 0600)");
  key_create->add_option("file", key_path, "where to write the key")->required();

  auto* dsc = app.add_subcommand("datastore", "manage datastores");
  dsc->require_subcommand(1);
  std::string ds_path;
  auto* ds_create =
      dsc->add_subcommand("create", "create a datastore in an empty or missing directory");
  ds_create->add_option("path", ds_path, "the directory (absolute path)")->required();

  std::string verify_storage, verify_volume;
  auto* ver = app.add_subcommand(
      "verify",
      "check backups: a datastore's chunks and references; other storages' archives read whole");
  ver->add_option("storage", verify_storage, "storage id")->required();
  ver->add_option("volume", verify_volume, "only this backup (<volname> or <storage>:<volname>)");

  std::string gc_storage;
  bool gc_dry_run = false;
  auto* gcc = app.add_subcommand("gc", "remove chunks no backup references (safe beside backups)");
  gcc->add_option("storage", gc_storage, "datastore storage id")->required();
  gcc->add_flag("--dry-run", gc_dry_run, "only count what would be removed");

  std::string cat_volume, cat_path;
  auto* cat = app.add_subcommand("catalog", "list the files of a datastore backup");
  cat->add_option("volume", cat_volume, "<storage>:<volname>")->required();
  cat->add_option("path", cat_path, "only this path and what is below it");

  std::string rf_volume, rf_target;
  std::vector<std::string> rf_paths;
  bool rf_keep_privileges = false;
  auto* rf =
      app.add_subcommand("restore-file", "restore files or directories of a datastore backup");
  rf->add_option("volume", rf_volume, "<storage>:<volname>")->required();
  rf->add_option("path", rf_paths, "paths in the backup (e.g. /etc/hosts)")->required();
  rf->add_option("--target", rf_target, "directory to restore into (created if missing)")
      ->required();
  rf->add_flag("--keep-setuid-and-caps", rf_keep_privileges,
               "keep setuid/setgid bits and file capabilities (default: removed)");

  std::string mnt_volume, mnt_dir;
  auto* mnt = app.add_subcommand("mount", "mount a datastore backup read-only (FUSE)");
  mnt->add_option("volume", mnt_volume, "<storage>:<volname>")->required();
  mnt->add_option("dir", mnt_dir, "empty directory to mount on")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // "A subcommand is required" for `ctdump frobnicate`: name the word.
    if (dynamic_cast<const CLI::RequiredError*>(&e) && app.get_subcommands().empty() &&
        !app.remaining().empty()) {
      std::fprintf(stderr, "unknown command '%s' (see ctdump --help)\n",
                   app.remaining()[0].c_str());
      return kExitUsage;
    }
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  // Every command talks to child processes: never die of SIGPIPE, and turn
  // SIGINT/SIGTERM/SIGHUP into an orderly stop.
  sys::InstallInterruptHandlers();
  if (*b) return RunBackup(g, job);
  if (*l) return RunList(g, list_storage, list_vmid);
  if (*cl) return RunCleanup(g);
  if (*pr) return RunPrune(g, prune_storage, prune_vmid, prune_opts, prune_dry_run);
  if (*r) {
    if (unpriv >= 0) ro.unprivileged = unpriv == 1;
    return RunRestoreCmd(g, ro);
  }
  if (*d) return RunDelete(g, delete_volid);
  auto renderer = MakeRenderer(g);
  CommandContext cc{g.paths.config_dir, g.output_format == "json", renderer.get()};
  if (*key_create) return RunKeyCreate(cc, key_path);
  if (*ds_create) return RunDatastoreCreate(cc, ds_path);
  if (*ver) {
    std::optional<std::string> v;
    if (!verify_volume.empty()) {
      v = verify_volume;
      if (v->starts_with(verify_storage + ":")) v = v->substr(verify_storage.size() + 1);
    }
    return RunVerifyStorage(cc, verify_storage, v);
  }
  if (*gcc) return RunGc(cc, gc_storage, gc_dry_run);
  // A volume not of the form <storage>:<volname> is a usage error.
  for (auto [given, volid] :
       {std::pair{bool(*cat), &cat_volume}, {bool(*rf), &rf_volume}, {bool(*mnt), &mnt_volume}}) {
    auto colon = volid->find(':');
    if (given && (colon == std::string::npos || colon == 0 || colon + 1 == volid->size())) {
      renderer->Log(LogLevel::kErr,
                    fmt::format("volume '{}' is not of the form <storage>:<volname>", *volid));
      return kExitUsage;
    }
  }
  if (*cat) return RunCatalog(cc, cat_volume, cat_path);
  if (*rf) return RunRestoreFile(cc, rf_volume, rf_paths, rf_target, rf_keep_privileges);
  if (*mnt) return RunMount(cc, mnt_volume, mnt_dir);
  return kExitUsage;
}

}  // namespace
}  // namespace ctdump::cli

int main(int argc, char** argv) {
  try {
    return ctdump::cli::Main(argc, argv);
  } catch (const std::exception& e) {
    // Reaching here unwound every guard (containers restarted, mounts gone).
    std::fprintf(stderr, "ERROR: internal error: %s\n", e.what());
    return 1;
  }
}
