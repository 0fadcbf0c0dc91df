#include "restore/restore_journal.h"

#include <btrfsutil.h>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "sys/file.h"
#include "sys/lock_file.h"
#include "sys/subprocess.h"

namespace ctdump::restore {
namespace {

using json = nlohmann::json;

constexpr const char* kPrefix = "restore-";

std::string JournalPath(const std::string& run_dir, const std::string& name) {
  return fmt::format("{}/state/{}{}.json", run_dir, kPrefix, name);
}

Result<RestoreJournalState> FromJson(const std::string& text, const std::string& path) {
  json j = json::parse(text, nullptr, false);
  RestoreJournalState s;
  try {
    if (j.is_discarded() || !j.is_object()) throw std::runtime_error("not a JSON object");
    s.pid = j.at("pid").get<pid_t>();
    s.name = j.at("name").get<std::string>();
    s.ct_dir = j.at("ct_dir").get<std::string>();
    s.dirs = j.at("dirs").get<std::vector<std::string>>();
    s.subvolume = j.at("subvolume").get<std::string>();
  } catch (const std::exception& e) {
    return DataLossError(fmt::format("restore journal \"{}\" is damaged: {}", path, e.what()));
  }
  return s;
}

// Removes what one dead restore created, newest first; every step is tried.
Status Repair(const RestoreJournalState& s, Observer* log) {
  if (sys::PathExists(s.ct_dir + "/config")) {
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

// A journal write killed between creating its temp file and the rename
// leaves "<journal>.tmp.XXXXXX" (sys::WriteFileAtomic). No write takes ten
// minutes: an older one is a dead writer's, a newer one may be a live one's.
constexpr int64_t kStaleTempSeconds = 600;

void RemoveStaleTemps(const std::string& dir, std::string_view prefix, Observer* log) {
  sys::RemoveStaleFiles(dir, prefix, ".json.tmp.", kStaleTempSeconds, [log](const std::string& p) {
    log->Log(LogLevel::kInfo,
             fmt::format("removed \"{}\", a journal write interrupted by a crash", p));
  });
}

}  // namespace

std::string RestoreLockPath(const std::string& run_dir, const std::string& name) {
  return fmt::format("{}/lock/lxc-{}.lock", run_dir, name);
}

RestoreJournal::RestoreJournal(const std::string& run_dir, std::string name, std::string ct_dir)
    : path_(JournalPath(run_dir, name)) {
  state_.pid = ::getpid();
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
            {"name", state_.name},
            {"ct_dir", state_.ct_dir},
            {"dirs", state_.dirs},
            {"subvolume", state_.subvolume}};
  RETURN_IF_ERROR(sys::MakeDirs(path_.substr(0, path_.rfind('/')), 0755));
  return sys::WriteFileAtomic(path_, j.dump() + "\n", 0600);
}

Status RestoreJournal::Clear() {
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT)
    return ErrnoError(errno, fmt::format("Failed to remove journal \"{}\"", path_));
  return Status::OK();
}

Result<int> RepairAbandonedRestores(const std::string& run_dir, Observer* log,
                                    const std::string& only_name) {
  std::string dir = run_dir + "/state";
  std::vector<std::string> files;
  if (!only_name.empty()) {
    files.push_back(JournalPath(run_dir, only_name));
  } else {
    RemoveStaleTemps(dir, kPrefix, log);
    DIR* d = ::opendir(dir.c_str());
    if (!d)
      return errno == ENOENT
                 ? 0
                 : Result<int>(ErrnoError(errno, fmt::format("Failed to list \"{}\"", dir)));
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.rfind(kPrefix, 0) == 0 && n.ends_with(".json")) files.push_back(dir + "/" + n);
    }
    ::closedir(d);
  }
  if (only_name.empty() && !files.empty()) RETURN_IF_ERROR(sys::MakeDirs(run_dir + "/lock", 0755));
  int repaired = 0;
  Status first;
  for (const auto& f : files) {
    auto text = sys::ReadFile(f);
    if (!text.ok()) continue;  // none (the usual case for one name)
    auto s = FromJson(*text, f);
    if (!s.ok()) {
      log->Log(LogLevel::kWarn, s.status().message());
      continue;
    }
    if (sys::ProcessAlive(s->pid)) continue;
    std::optional<sys::LockFile> lock;
    if (only_name.empty()) {
      if (s->name.empty() || s->name.find('/') != std::string::npos || s->name[0] == '.') {
        log->Log(LogLevel::kWarn,
                 fmt::format("restore journal \"{}\" names no valid container", f));
        continue;
      }
      auto l =
          sys::LockFile::Acquire(RestoreLockPath(run_dir, s->name), std::chrono::milliseconds(0),
                                 [&](const std::string& m) { log->Log(LogLevel::kWarn, m); });
      if (!l.ok()) continue;  // a restore of that name is running: it repairs this itself
      lock.emplace(std::move(*l));
      // One may have run between the read and the lock and handled it.
      auto again = sys::ReadFile(f);
      if (!again.ok() || *again != *text) continue;
    }
    Status r = Repair(*s, log);
    if (r.ok()) {
      ::unlink(f.c_str());
      ++repaired;
    } else if (first.ok()) {
      first = r;
    }
  }
  if (!first.ok()) return first;
  return repaired;
}

}  // namespace ctdump::restore
