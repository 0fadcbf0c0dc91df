#include "backup/journal.h"

#include <btrfsutil.h>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string_view>

#include "container/container.h"
#include "sys/file.h"
#include "sys/subprocess.h"

namespace ctdump::backup {
namespace {

using json = nlohmann::json;

json ToJson(const JournalState& s) {
  return {{"pid", s.pid},         {"vmid", s.vmid},     {"lxcpath", s.lxcpath},
          {"stopped", s.stopped}, {"frozen", s.frozen}, {"snapshots", s.snapshots},
          {"copies", s.copies},   {"tmpdir", s.tmpdir}};
}

Result<JournalState> FromJson(const std::string& text, const std::string& path) {
  json j = json::parse(text, nullptr, false);
  JournalState s;
  try {
    if (j.is_discarded() || !j.is_object()) throw std::runtime_error("not a JSON object");
    s.pid = j.at("pid").get<pid_t>();
    s.vmid = j.at("vmid").get<std::string>();
    s.lxcpath = j.at("lxcpath").get<std::string>();
    s.stopped = j.at("stopped").get<bool>();
    s.frozen = j.at("frozen").get<bool>();
    s.snapshots = j.at("snapshots").get<std::vector<std::string>>();
    s.copies = j.at("copies").get<std::vector<std::string>>();
    s.tmpdir = j.at("tmpdir").get<std::string>();
  } catch (const std::exception& e) {
    return DataLossError(fmt::format("journal \"{}\" is damaged: {}", path, e.what()));
  }
  return s;
}

// Undoes one dead backup's changes; every step is tried.
Status Repair(const JournalState& s, Observer* log) {
  Status first;
  auto note = [&](Status st) {
    if (!st.ok()) {
      log->Log(LogLevel::kErr, st.message());
      if (first.ok()) first = st;
    }
  };
  auto ct = container::Container::Open(s.vmid, s.lxcpath);
  if (!ct.ok()) {
    note(ct.status());
  } else {
    if (s.frozen && ct->GetState() == container::State::kFrozen) {
      log->Log(LogLevel::kInfo,
               fmt::format("thawing container '{}' frozen by interrupted backup (pid {})", s.vmid,
                           s.pid));
      note(ct->Thaw());
    }
    if (s.stopped && !ct->IsRunning()) {
      log->Log(LogLevel::kInfo,
               fmt::format("starting container '{}' stopped by interrupted backup (pid {})", s.vmid,
                           s.pid));
      note(ct->Start());
    }
  }
  for (const auto& snap : s.snapshots) {
    if (!sys::PathExists(snap)) continue;
    log->Log(LogLevel::kInfo, fmt::format("removing snapshot '{}' of interrupted backup", snap));
    btrfs_util_error e = btrfs_util_delete_subvolume(snap.c_str(), 0);
    if (e != BTRFS_UTIL_OK)
      note(
          IOError(fmt::format("unable to delete snapshot '{}': {}", snap, btrfs_util_strerror(e))));
  }
  for (const auto& dir : s.copies) {
    if (!sys::PathExists(dir)) continue;
    log->Log(LogLevel::kInfo, fmt::format("removing copy '{}' of interrupted backup", dir));
    note(sys::RemoveTree(dir));
  }
  if (!s.tmpdir.empty() && sys::PathExists(s.tmpdir)) {
    log->Log(LogLevel::kInfo,
             fmt::format("removing temporary directory '{}' of interrupted backup", s.tmpdir));
    note(sys::RemoveTree(s.tmpdir));
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

GuestJournal::GuestJournal(std::string run_dir, std::string vmid, std::string lxcpath) {
  path_ = fmt::format("{}/state/lxc-{}.json", run_dir, vmid);
  state_.pid = ::getpid();
  state_.vmid = std::move(vmid);
  state_.lxcpath = std::move(lxcpath);
}

Status GuestJournal::Update(const std::function<void(JournalState&)>& change) {
  if (path_.empty()) return Status::OK();
  change(state_);
  RETURN_IF_ERROR(sys::MakeDirs(path_.substr(0, path_.rfind('/')), 0755));
  return sys::WriteFileAtomic(path_, ToJson(state_).dump() + "\n", 0600);
}

Status GuestJournal::Clear() {
  if (path_.empty()) return Status::OK();
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT)
    return ErrnoError(errno, fmt::format("Failed to remove journal \"{}\"", path_));
  return Status::OK();
}

Result<int> RepairAbandoned(const std::string& run_dir, Observer* log) {
  std::string dir = run_dir + "/state";
  RemoveStaleTemps(dir, "lxc-", log);
  DIR* d = ::opendir(dir.c_str());
  if (!d)
    return errno == ENOENT
               ? 0
               : Result<int>(ErrnoError(errno, fmt::format("Failed to list \"{}\"", dir)));
  std::vector<std::string> files;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.rfind("lxc-", 0) == 0 && n.size() > 5 && n.ends_with(".json"))
      files.push_back(dir + "/" + n);
  }
  ::closedir(d);
  int repaired = 0;
  Status first;
  for (const auto& f : files) {
    auto text = sys::ReadFile(f);
    if (!text.ok()) continue;
    auto s = FromJson(*text, f);
    if (!s.ok()) {
      log->Log(LogLevel::kWarn, s.status().message());
      continue;
    }
    if (sys::ProcessAlive(s->pid)) continue;
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

}  // namespace ctdump::backup
