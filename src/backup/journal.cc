#include "backup/journal.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <string_view>

#include "container/container.h"
#include "modes/volume_snapshot.h"
#include "sys/file.h"
#include "sys/journal.h"
#include "sys/subprocess.h"

namespace ctdump::backup {
namespace {

using json = nlohmann::json;

json ToJson(const JournalState& s) {
  return {{"pid", s.pid},
          {"boot_id", s.boot_id},
          {"vmid", s.vmid},
          {"lxcpath", s.lxcpath},
          {"stopped", s.stopped},
          {"frozen", s.frozen},
          {"snapshots", s.snapshots},
          {"copies", s.copies},
          {"tmpdir", s.tmpdir}};
}

Result<JournalState> FromJson(const std::string& text, const std::string& path) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return DataLossError(fmt::format("journal \"{}\" is damaged: not a JSON object", path));
  JournalState s;
  try {  // nlohmann-json reports a missing key or a wrong type by throwing
    s.pid = j.at("pid").get<pid_t>();
    s.boot_id = j.value("boot_id", "");
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

// Undoes one dead backup's changes; every step is tried. After a reboot
// (`rebooted`) the container is left as the boot made it.
Status Repair(const JournalState& s, bool rebooted, Observer* log) {
  Status first;
  auto note = [&](Status st) {
    if (!st.ok()) {
      log->Log(LogLevel::kErr, st.message());
      if (first.ok()) first = st;
    }
  };
  if (rebooted) {
    if (s.stopped || s.frozen)
      log->Log(LogLevel::kInfo,
               fmt::format("not {} container '{}': its backup (pid {}) was interrupted by a "
                           "reboot, which stopped it (lxc-autostart starts it if configured)",
                           s.stopped ? "starting" : "thawing", s.vmid, s.pid));
  } else if (!s.stopped && !s.frozen) {
    // Nothing to do to the container (it may even be gone since).
  } else if (auto ct = container::Container::Open(s.vmid, s.lxcpath); !ct.ok()) {
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
    note(modes::DeleteBtrfsSnapshot(snap));
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

constexpr std::string_view kPrefix = "lxc-";

}  // namespace

GuestJournal::GuestJournal(const sys::JournalDirs& dirs, std::string vmid, std::string lxcpath)
    : path_(sys::JournalPath(dirs.dir, kPrefix, vmid)) {
  state_.pid = ::getpid();
  state_.boot_id = dirs.boot_id;
  state_.vmid = std::move(vmid);
  state_.lxcpath = std::move(lxcpath);
}

Status GuestJournal::Update(const std::function<void(JournalState&)>& change) {
  if (path_.empty()) return Status::OK();
  change(state_);
  return sys::WriteJournal(path_, ToJson(state_).dump() + "\n");
}

Status GuestJournal::Clear() {
  if (path_.empty()) return Status::OK();
  return sys::ClearJournal(path_);
}

Result<int> RepairAbandoned(const sys::JournalDirs& dirs, Observer* log) {
  ASSIGN_OR_RETURN(std::vector<std::string> paths, sys::ListJournals(dirs, kPrefix, log));
  return sys::RepairJournals(
      paths,
      [&dirs, log](const std::string& path, const std::string& text) -> Result<sys::JournalRepair> {
        auto s = FromJson(text, path);
        if (!s.ok()) {
          log->Log(LogLevel::kWarn, s.status().message());
          return sys::JournalRepair::kSkipped;
        }
        sys::JournalWriter w = sys::ClassifyWriter(s->pid, s->boot_id, dirs.boot_id);
        if (w == sys::JournalWriter::kRunning) return sys::JournalRepair::kSkipped;
        RETURN_IF_ERROR(Repair(*s, w == sys::JournalWriter::kPreviousBoot, log));
        return sys::JournalRepair::kRepaired;
      });
}

}  // namespace ctdump::backup
