#include "tasks/task_dir.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <set>

#include "sys/dir_list.h"
#include "sys/file.h"
#include "tasks/task_status.h"

namespace ctdump::tasks {
namespace {

constexpr mode_t kLogMode = 0640;

bool ContainsNoCase(std::string_view hay, std::string_view needle) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end(),
                     [&](char a, char b) { return lower(a) == lower(b); }) != hay.end();
}

bool Matches(const TaskEntry& e, const TaskFilter& f) {
  if (!f.userfilter.empty() && !ContainsNoCase(e.upid.user, f.userfilter)) return false;
  if (!f.typefilter.empty() && e.upid.type != f.typefilter) return false;
  if (!f.vmid.empty() && e.upid.id != f.vmid) return false;
  if (f.errors && e.status == "OK") return false;
  if (f.since && e.upid.starttime < *f.since) return false;
  if (f.until && e.upid.starttime > *f.until) return false;
  if (!f.statusfilter.empty()) {
    std::string cls = StatusClass(e.status);
    if (std::find(f.statusfilter.begin(), f.statusfilter.end(), cls) == f.statusfilter.end())
      return false;
  }
  return true;
}

}  // namespace

std::string StatusClass(std::string_view status) {
  if (status == "RUNNING") return "running";
  if (status == "OK") return "ok";
  if (status == kUnexpectedStatus) return "unknown";
  constexpr std::string_view kWarnings = "WARNINGS: ";
  if (status.starts_with(kWarnings) && status.size() > kWarnings.size() &&
      status.find_first_not_of("0123456789", kWarnings.size()) == std::string_view::npos)
    return "warning";
  return "error";
}

std::optional<TaskEntry> ParseIndexLine(std::string_view line) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return std::nullopt;
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 - sp1 - 1 != 8) return std::nullopt;
  auto upid = DecodeUpid(line.substr(0, sp1));
  if (!upid.ok()) return std::nullopt;
  uint32_t end = 0;
  for (char c : line.substr(sp1 + 1, 8)) {
    int d = (c >= '0' && c <= '9')   ? c - '0'
            : (c >= 'A' && c <= 'F') ? c - 'A' + 10
            : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                     : -1;
    if (d < 0) return std::nullopt;
    end = end * 16 + static_cast<uint32_t>(d);
  }
  TaskEntry e{std::move(*upid), end, std::string(line.substr(sp2 + 1))};
  if (e.status.empty()) return std::nullopt;
  return e;
}

std::string FormatIndexLine(const Upid& upid, uint32_t endtime, std::string_view status) {
  return fmt::format("{} {:08X} {}", EncodeUpid(upid), endtime, status);
}

TaskDir::TaskDir(const std::string& log_dir) : root_(log_dir + "/tasks") {}

std::string TaskDir::LogPath(const Upid& upid) const {
  return fmt::format("{}/{:X}/{}", root_, upid.starttime & 0xF, EncodeUpid(upid));
}

std::string TaskDir::ActivePath(const Upid& upid) const {
  return fmt::format("{}/active/{}", root_, EncodeUpid(upid));
}

Status TaskDir::Prepare() const {
  RETURN_IF_ERROR(sys::MakeDirs(root_ + "/active", 0755));
  for (int i = 0; i < 16; ++i)
    RETURN_IF_ERROR(sys::MakeDirs(fmt::format("{}/{:X}", root_, i), 0755));
  return Status::OK();
}

Result<sys::UniqueFd> TaskDir::CreateLog(const Upid& upid) const {
  std::string path = LogPath(upid);
  sys::UniqueFd fd(
      ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, kLogMode));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("Failed to create task log \"{}\"", path));
  // The umask must not widen or narrow what the logs' readers rely on.
  if (::fchmod(fd.get(), kLogMode) != 0)
    return ErrnoError(errno, fmt::format("Failed to chmod \"{}\"", path));
  return fd;
}

Status TaskDir::AddActive(const Upid& upid) const {
  std::string path = ActivePath(upid);
  sys::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("Failed to create \"{}\"", path));
  return Status::OK();
}

Result<sys::UniqueFd> TaskDir::Lock() const {
  std::string path = root_ + "/.lock";
  sys::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("Failed to open \"{}\"", path));
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return ErrnoError(errno, fmt::format("Failed to lock \"{}\"", path));
  }
  return fd;
}

Status TaskDir::AppendIndexLocked(const std::string& line) const {
  std::string index = root_ + "/index";
  {
    sys::UniqueFd fd(::open(index.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!fd.valid()) return ErrnoError(errno, fmt::format("Failed to open \"{}\"", index));
    RETURN_IF_ERROR(sys::WriteAll(fd.get(), line + "\n", index));
  }
  // Most appends only count lines; the entries are parsed when rotating.
  auto content = sys::ReadFile(index);
  if (!content.ok()) return content.status();
  if (static_cast<size_t>(std::count(content->begin(), content->end(), '\n')) <= kIndexMaxLines)
    return Status::OK();
  ASSIGN_OR_RETURN(std::vector<TaskEntry> current, ReadIndex("index"));
  // Rotation: the logs that only the old index.1 names go with it.
  ASSIGN_OR_RETURN(std::vector<TaskEntry> old, ReadIndex("index.1"));
  std::set<std::string> kept;
  for (const auto& e : current) kept.insert(EncodeUpid(e.upid));
  for (const auto& e : old) {
    if (kept.count(EncodeUpid(e.upid))) continue;
    std::string log = LogPath(e.upid);
    if (::unlink(log.c_str()) != 0 && errno != ENOENT)
      return ErrnoError(errno, fmt::format("Failed to remove old task log \"{}\"", log));
  }
  std::string rotated = root_ + "/index.1";
  if (::rename(index.c_str(), rotated.c_str()) != 0)
    return ErrnoError(errno, fmt::format("Failed to rename \"{}\" to \"{}\"", index, rotated));
  return Status::OK();
}

Status TaskDir::Finish(const Upid& upid, uint32_t endtime, std::string_view status) const {
  ASSIGN_OR_RETURN(sys::UniqueFd lock, Lock());
  RETURN_IF_ERROR(AppendIndexLocked(FormatIndexLine(upid, endtime, status)));
  std::string active = ActivePath(upid);
  if (::unlink(active.c_str()) != 0 && errno != ENOENT)
    return ErrnoError(errno, fmt::format("Failed to remove \"{}\"", active));
  return Status::OK();
}

Result<std::vector<TaskEntry>> TaskDir::ReadIndex(const std::string& name) const {
  std::vector<TaskEntry> out;
  auto content = sys::ReadFile(root_ + "/" + name);
  if (!content.ok()) {
    if (content.status().code() == Code::kNotFound) return out;
    return content.status();
  }
  std::string_view rest = *content;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    // A malformed line (a torn write after a crash) is skipped, not fatal.
    if (auto e = ParseIndexLine(rest.substr(0, nl))) out.push_back(std::move(*e));
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
  }
  return out;
}

Result<std::vector<TaskEntry>> TaskDir::ReadActive() const {
  std::vector<TaskEntry> out;
  auto names = sys::ListDirectory(root_ + "/active");
  if (!names.ok()) {
    if (names.status().code() == Code::kNotFound) return out;
    return names.status();
  }
  for (const auto& d : *names) {
    auto upid = DecodeUpid(d.name);
    if (!upid.ok()) continue;  // not ours
    out.push_back({std::move(*upid), std::nullopt, "RUNNING"});
  }
  return out;
}

Result<TaskList> TaskDir::List(const TaskFilter& filter) const {
  ASSIGN_OR_RETURN(std::vector<TaskEntry> active, ReadActive());
  std::vector<TaskEntry> running, stale;
  for (auto& e : active) (IsRunning(e.upid) ? running : stale).push_back(std::move(e));
  if (!stale.empty()) {
    ASSIGN_OR_RETURN(sys::UniqueFd lock, Lock());
    ASSIGN_OR_RETURN(std::vector<TaskEntry> index, ReadIndex("index"));
    std::set<std::string> ended;
    for (const auto& e : index) ended.insert(EncodeUpid(e.upid));
    for (const auto& e : stale) {
      std::string path = ActivePath(e.upid);
      // Whoever removes the entry appends the line: a concurrent listing
      // finds it gone. A worker killed between its index line and the
      // removal already has its line.
      if (::unlink(path.c_str()) != 0) continue;
      if (ended.count(EncodeUpid(e.upid))) continue;
      std::string log = LogPath(e.upid);
      struct stat st;
      uint32_t end = ::stat(log.c_str(), &st) == 0 ? static_cast<uint32_t>(st.st_mtime)
                                                   : static_cast<uint32_t>(::time(nullptr));
      auto status = ReadExitStatus(log);
      RETURN_IF_ERROR(AppendIndexLocked(
          FormatIndexLine(e.upid, end, status.ok() ? *status : std::string(kUnexpectedStatus))));
    }
  }
  std::sort(running.begin(), running.end(), [](const TaskEntry& a, const TaskEntry& b) {
    return a.upid.starttime > b.upid.starttime;
  });
  std::vector<TaskEntry> all;
  if (filter.source != TaskFilter::Source::kArchive) all = std::move(running);
  if (filter.source != TaskFilter::Source::kActive) {
    for (const char* name : {"index", "index.1"}) {
      ASSIGN_OR_RETURN(std::vector<TaskEntry> ended, ReadIndex(name));
      all.insert(all.end(), std::make_move_iterator(ended.rbegin()),
                 std::make_move_iterator(ended.rend()));
    }
  }
  TaskList list;
  for (auto& e : all) {
    if (!Matches(e, filter)) continue;
    if (list.total >= filter.start && list.total - filter.start < filter.limit)
      list.entries.push_back(std::move(e));
    ++list.total;
  }
  return list;
}

}  // namespace ctdump::tasks
