#include "restore/restore_journal.h"

#include <btrfsutil.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "container/container.h"
#include "sys/file.h"
#include "sys/journal.h"
#include "sys/lock_file.h"
#include "sys/subprocess.h"

namespace ctdump::restore {
namespace {

using json = nlohmann::json;

constexpr std::string_view kPrefix = "restore-";

Result<RestoreJournalState> FromJson(const std::string& text, const std::string& path) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return DataLossError(fmt::format("restore journal \"{}\" is damaged: not a JSON object", path));
  RestoreJournalState s;
  try {  // nlohmann-json reports a missing key or a wrong type by throwing
    s.pid = j.at("pid").get<pid_t>();
    s.boot_id = j.value("boot_id", "");
    s.name = j.at("name").get<std::string>();
    s.ct_dir = j.at("ct_dir").get<std::string>();
    s.dirs = j.at("dirs").get<std::vector<std::string>>();
    s.subvolume = j.at("subvolume").get<std::string>();
    s.throwaway = j.value("throwaway", false);
  } catch (const std::exception& e) {
    return DataLossError(fmt::format("restore journal \"{}\" is damaged: {}", path, e.what()));
  }
  return s;
}

// Removes what one dead restore created, newest first; every step is tried.
Status Repair(const RestoreJournalState& s, Observer* log) {
  if (s.throwaway) {
    // A restore test's container: stopped (it may still run after the test
    // was killed), then removed with everything else the journal lists.
    std::string lxcpath = s.ct_dir.substr(0, s.ct_dir.rfind('/'));
    auto ct = container::Container::Open(s.name, lxcpath);
    if (ct.ok() && ct->IsRunning()) {
      log->Log(LogLevel::kInfo,
               fmt::format("stopping container '{}' of interrupted restore test", s.name));
      RETURN_IF_ERROR(ct->Stop().WithContext(
          fmt::format("unable to stop the restore test's container '{}'", s.name)));
    }
    // The config first: without it LXC (lxc-autostart at boot) no longer
    // sees the container, whatever else a failure below leaves.
    const std::string config = s.ct_dir + "/config";
    if (::unlink(config.c_str()) != 0 && errno != ENOENT)
      return ErrnoError(errno, fmt::format("unable to remove \"{}\" of the restore test's "
                                           "container '{}'",
                                           config, s.name));
  } else if (sys::PathExists(s.ct_dir + "/config")) {
    log->Log(LogLevel::kWarn,
             fmt::format("container '{}' has a config since its restore was interrupted (pid "
                         "{}); leaving it alone",
                         s.name, s.pid));
    return Status::OK();
  }
  Status first;
  auto note = [&](Status st) {
    if (!st.ok()) {
      log->Log(LogLevel::kErr, st.message());
      if (first.ok()) first = st;
    }
  };
  if (!s.subvolume.empty() && sys::PathExists(s.subvolume)) {
    log->Log(LogLevel::kInfo, fmt::format("removing subvolume '{}' of interrupted restore of '{}'",
                                          s.subvolume, s.name));
    btrfs_util_error e =
        btrfs_util_delete_subvolume(s.subvolume.c_str(), BTRFS_UTIL_DELETE_SUBVOLUME_RECURSIVE);
    if (e != BTRFS_UTIL_OK)
      note(IOError(
          fmt::format("unable to delete subvolume '{}': {}", s.subvolume, btrfs_util_strerror(e))));
  }
  for (auto it = s.dirs.rbegin(); it != s.dirs.rend(); ++it) {
    if (!sys::PathExists(*it)) continue;
    log->Log(LogLevel::kInfo,
             fmt::format("removing '{}' of interrupted restore of '{}'", *it, s.name));
    note(sys::RemoveTree(*it));
  }
  return first;
}

// Repairs the journal at `path` (`text`) if its restore is dead; the caller
// holds the restore lock of `only_name` when that is not empty, else the
// journal's restore lock is taken here.
Result<sys::JournalRepair> RepairOne(const sys::JournalDirs& dirs, const std::string& run_dir,
                                     const std::string& only_name, const std::string& path,
                                     const std::string& text, Observer* log) {
  auto s = FromJson(text, path);
  if (!s.ok()) {
    log->Log(LogLevel::kWarn, s.status().message());
    return sys::JournalRepair::kSkipped;
  }
  if (sys::ClassifyWriter(s->pid, s->boot_id, dirs.boot_id) == sys::JournalWriter::kRunning)
    return sys::JournalRepair::kSkipped;
  std::optional<sys::LockFile> lock;
  if (only_name.empty()) {
    if (s->name.empty() || s->name.find('/') != std::string::npos || s->name[0] == '.') {
      log->Log(LogLevel::kWarn,
               fmt::format("restore journal \"{}\" names no valid container", path));
      return sys::JournalRepair::kSkipped;
    }
    auto l = sys::LockFile::Acquire(RestoreLockPath(run_dir, s->name), std::chrono::milliseconds(0),
                                    [&](const std::string& m) { log->Log(LogLevel::kWarn, m); });
    // A restore of that name is running: it repairs this itself.
    if (!l.ok()) return sys::JournalRepair::kSkipped;
    lock.emplace(std::move(*l));
    // One may have run between the read and the lock and handled it.
    auto again = sys::ReadFile(path);
    if (!again.ok() || *again != text) return sys::JournalRepair::kSkipped;
  }
  RETURN_IF_ERROR(Repair(*s, log));
  if (s->throwaway) {
    // A restore test's name is never used again: its lock files go too
    // (the restore lock only when this repair took it, not the caller).
    if (only_name.empty()) ::unlink(RestoreLockPath(run_dir, s->name).c_str());
    container::RemoveLxcLockFiles(s->name, s->ct_dir.substr(0, s->ct_dir.rfind('/')));
  }
  return sys::JournalRepair::kRepaired;
}

}  // namespace

std::string RestoreLockPath(const std::string& run_dir, const std::string& name) {
  return fmt::format("{}/lock/lxc-{}.lock", run_dir, name);
}

RestoreJournal::RestoreJournal(const sys::JournalDirs& dirs, std::string name, std::string ct_dir,
                               bool throwaway)
    : path_(sys::JournalPath(dirs.dir, kPrefix, name)) {
  state_.pid = ::getpid();
  state_.boot_id = dirs.boot_id;
  state_.throwaway = throwaway;
  state_.name = std::move(name);
  state_.ct_dir = std::move(ct_dir);
}

Status RestoreJournal::WillCreateDir(const std::string& dir) {
  state_.dirs.push_back(dir);
  return Write();
}

Status RestoreJournal::WillCreateSubvolume(const std::string& subvolume) {
  state_.subvolume = subvolume;
  return Write();
}

Status RestoreJournal::Write() {
  json j = {{"pid", state_.pid},
            {"boot_id", state_.boot_id},
            {"name", state_.name},
            {"ct_dir", state_.ct_dir},
            {"dirs", state_.dirs},
            {"subvolume", state_.subvolume},
            {"throwaway", state_.throwaway}};
  return sys::WriteJournal(path_, j.dump() + "\n");
}

Status RestoreJournal::Clear() { return sys::ClearJournal(path_); }

Status ClearRestoreJournal(const sys::JournalDirs& dirs, const std::string& name) {
  return sys::ClearJournal(sys::JournalPath(dirs.dir, kPrefix, name));
}

Result<int> RepairAbandonedRestores(const sys::JournalDirs& dirs, const std::string& run_dir,
                                    Observer* log, const std::string& only_name) {
  std::vector<std::string> paths;
  if (!only_name.empty()) {
    paths.push_back(sys::JournalPath(dirs.dir, kPrefix, only_name));
    if (!dirs.legacy_dir.empty())
      paths.push_back(sys::JournalPath(dirs.legacy_dir, kPrefix, only_name));
  } else {
    ASSIGN_OR_RETURN(paths, sys::ListJournals(dirs, kPrefix, log));
    if (!paths.empty()) RETURN_IF_ERROR(sys::MakeDirs(run_dir + "/lock", 0755));
  }
  // A missing journal (the usual case for one name) is skipped.
  return sys::RepairJournals(paths, [&](const std::string& path, const std::string& text) {
    return RepairOne(dirs, run_dir, only_name, path, text, log);
  });
}

}  // namespace ctdump::restore
