#include "sys/journal.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "sys/dir_list.h"
#include "sys/file.h"
#include "sys/subprocess.h"

namespace ctdump::sys {

namespace {

// A journal write killed between creating its temp file and the rename
// leaves "<journal>.tmp.XXXXXX" (WriteFileAtomic). No write takes ten
// minutes: an older one is a dead writer's, a newer one may be a live one's.
constexpr int64_t kStaleTempSeconds = 600;

std::string DirOf(const std::string& path) { return path.substr(0, path.rfind('/')); }

}  // namespace

JournalDirs MakeJournalDirs(const std::string& state_dir, const std::string& run_dir) {
  return {state_dir + "/journal", run_dir + "/state", CurrentBootId()};
}

std::string CurrentBootId() {
  auto text = ReadFile("/proc/sys/kernel/random/boot_id");
  if (!text.ok()) return "";
  std::string id = *text;
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  return id;
}

JournalWriter ClassifyWriter(pid_t pid, std::string_view journal_boot, std::string_view boot_id) {
  if (!journal_boot.empty() && !boot_id.empty() && journal_boot != boot_id)
    return JournalWriter::kPreviousBoot;
  return ProcessAlive(pid) ? JournalWriter::kRunning : JournalWriter::kDead;
}

std::string JournalPath(const std::string& dir, std::string_view prefix, std::string_view name) {
  return fmt::format("{}/{}{}.json", dir, prefix, name);
}

Status WriteJournal(const std::string& path, std::string_view text) {
  const std::string dir = DirOf(path);
  if (!PathExists(dir)) {
    RETURN_IF_ERROR(MakeDirs(dir, 0755));
    // The new directory's entry must be durable too, or a crash may lose it
    // with the journal in it.
    std::string parent = DirOf(dir);
    int fd = ::open(parent.empty() ? "/" : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  }
  return WriteFileAtomic(path, text, 0600);
}

Status ClearJournal(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return ErrnoError(errno, fmt::format("Failed to remove journal \"{}\"", path));
  return Status::OK();
}

Result<std::vector<std::string>> ListJournals(const std::string& dir, std::string_view prefix,
                                              Observer* log) {
  RemoveStaleFiles(dir, prefix, ".json.tmp.", kStaleTempSeconds, [log](const std::string& p) {
    log->Log(LogLevel::kInfo,
             fmt::format("removed \"{}\", a journal write interrupted by a crash", p));
  });
  std::vector<std::string> paths;
  auto entries = ListDirectory(dir);
  if (!entries.ok()) {
    if (entries.status().code() == Code::kNotFound) return paths;
    return entries.status();
  }
  for (const auto& e : *entries) {
    if (e.name.size() >= prefix.size() + 5 && e.name.starts_with(prefix) &&
        e.name.ends_with(".json"))
      paths.push_back(dir + "/" + e.name);
  }
  return paths;
}

Result<std::vector<std::string>> ListJournals(const JournalDirs& dirs, std::string_view prefix,
                                              Observer* log) {
  ASSIGN_OR_RETURN(std::vector<std::string> paths, ListJournals(dirs.dir, prefix, log));
  if (dirs.legacy_dir.empty() || dirs.legacy_dir == dirs.dir) return paths;
  ASSIGN_OR_RETURN(std::vector<std::string> old, ListJournals(dirs.legacy_dir, prefix, log));
  paths.insert(paths.end(), old.begin(), old.end());
  return paths;
}

Result<int> RepairJournals(
    const std::vector<std::string>& paths,
    const std::function<Result<JournalRepair>(const std::string& path, const std::string& text)>&
        repair) {
  int repaired = 0;
  Status first;
  for (const auto& path : paths) {
    auto text = ReadFile(path);
    if (!text.ok()) continue;  // gone meanwhile (or, for a named one, none)
    Result<JournalRepair> r = repair(path, *text);
    if (!r.ok()) {
      if (first.ok()) first = r.status();
    } else if (*r == JournalRepair::kRepaired) {
      ::unlink(path.c_str());
      ++repaired;
    }
  }
  if (!first.ok()) return first;
  return repaired;
}

}  // namespace ctdump::sys
