#include "jobs/job_state.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>

#include <nlohmann/json.hpp>

#include "sys/file.h"
#include "sys/unique_fd.h"

namespace ctdump::jobs {
namespace {

constexpr size_t kMaxStateSize = 1 << 20;

void PutTime(nlohmann::json& j, const char* key, const std::optional<int64_t>& v) {
  if (v) j[key] = *v;
}

Status GetTime(const nlohmann::json& j, const char* key, std::optional<int64_t>* out,
               const std::string& what) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::OK();
  if (!it->is_number_integer())
    return InvalidArgumentError(fmt::format("{}: '{}' is not an integer", what, key));
  *out = it->get<int64_t>();
  return Status::OK();
}

}  // namespace

std::string JobStatePath(const std::string& state_dir, const std::string& key) {
  return state_dir + "/jobs/" + key + ".json";
}

std::string JobLockPath(const std::string& run_dir, const std::string& key) {
  return run_dir + "/job-" + key + ".lock";
}

Result<bool> JobLockHeld(const std::string& path) {
  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return false;
    return ErrnoError(errno, fmt::format("Failed to open lock file \"{}\"", path));
  }
  if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return false;  // released with fd
  if (errno == EWOULDBLOCK) return true;
  return ErrnoError(errno, fmt::format("Failed to test lock \"{}\"", path));
}

bool StartedWithoutEnd(const JobState& s) {
  return s.last_start && (!s.last_end || *s.last_end < *s.last_start);
}

std::string EncodeJobState(const JobState& s) {
  nlohmann::json j = nlohmann::json::object();
  PutTime(j, "created", s.created);
  PutTime(j, "last-start", s.last_start);
  PutTime(j, "last-end", s.last_end);
  PutTime(j, "last-skip", s.last_skip);
  if (!s.result.empty()) j["result"] = s.result;
  if (!s.message.empty()) j["message"] = s.message;
  PutTime(j, "pid", s.pid);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Result<JobState> DecodeJobState(const std::string& text, const std::string& what) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return InvalidArgumentError(fmt::format("{}: not a JSON object", what));
  JobState s;
  RETURN_IF_ERROR(GetTime(j, "created", &s.created, what));
  RETURN_IF_ERROR(GetTime(j, "last-start", &s.last_start, what));
  RETURN_IF_ERROR(GetTime(j, "last-end", &s.last_end, what));
  RETURN_IF_ERROR(GetTime(j, "last-skip", &s.last_skip, what));
  RETURN_IF_ERROR(GetTime(j, "pid", &s.pid, what));
  for (auto [key, field] : {std::pair{"result", &s.result}, std::pair{"message", &s.message}}) {
    auto it = j.find(key);
    if (it == j.end()) continue;
    if (!it->is_string())
      return InvalidArgumentError(fmt::format("{}: '{}' is not a string", what, key));
    *field = it->get<std::string>();
  }
  if (!s.result.empty() && s.result != "ok" && s.result != "error")
    return InvalidArgumentError(fmt::format("{}: result '{}' is not ok or error", what, s.result));
  return s;
}

Result<JobState> LoadJobState(const std::string& path) {
  auto text = sys::ReadRegularFile(path, kMaxStateSize);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) return JobState();
    return text.status();
  }
  return DecodeJobState(*text, path);
}

Status SaveJobState(const std::string& path, const JobState& state) {
  RETURN_IF_ERROR(sys::MakeDirs(path.substr(0, path.rfind('/')), 0755));
  return sys::WriteFileAtomic(path, EncodeJobState(state), 0644);
}

}  // namespace ctdump::jobs
