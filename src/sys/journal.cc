#include "sys/journal.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "sys/dir_list.h"
#include "sys/file.h"

namespace ctdump::sys {

namespace {

// A journal write killed between creating its temp file and the rename
// leaves "<journal>.tmp.XXXXXX" (WriteFileAtomic). No write takes ten
// minutes: an older one is a dead writer's, a newer one may be a live one's.
constexpr int64_t kStaleTempSeconds = 600;

std::string DirOf(const std::string& path) { return path.substr(0, path.rfind('/')); }

}  // namespace

std::string JournalPath(const std::string& run_dir, std::string_view prefix,
                        std::string_view name) {
  return fmt::format("{}/state/{}{}.json", run_dir, prefix, name);
}

Status WriteJournal(const std::string& path, std::string_view text) {
  RETURN_IF_ERROR(MakeDirs(DirOf(path), 0755));
  return WriteFileAtomic(path, text, 0600);
}

Status ClearJournal(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return ErrnoError(errno, fmt::format("Failed to remove journal \"{}\"", path));
  return Status::OK();
}

Result<std::vector<std::string>> ListJournals(const std::string& run_dir, std::string_view prefix,
                                              Observer* log) {
  const std::string dir = run_dir + "/state";
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
