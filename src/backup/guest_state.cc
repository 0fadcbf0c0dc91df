#include "backup/guest_state.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "sys/dir_list.h"
#include "sys/file.h"

namespace ctdump::backup {
namespace {

using json = nlohmann::json;

constexpr std::string_view kSuffix = ".json";

std::optional<GuestOutcome> OutcomeFromName(std::string_view name) {
  for (GuestOutcome o : {GuestOutcome::kOk, GuestOutcome::kWarning, GuestOutcome::kError})
    if (name == GuestOutcomeName(o)) return o;
  return std::nullopt;
}

json ToJson(const GuestRecord& r) {
  json j = {{"vmid", r.vmid},
            {"time", r.time},
            {"storage", r.storage},
            {"job-id", r.job_id},
            {"result", GuestOutcomeName(r.result)},
            {"message", r.message},
            {"archive", r.archive},
            {"size", r.size ? json(*r.size) : json()},
            {"seconds", r.seconds},
            {"warnings", r.warnings}};
  if (!r.dumpdir.empty()) j["dumpdir"] = r.dumpdir;
  if (r.logical_bytes) j["logical-bytes"] = *r.logical_bytes;
  return j;
}

// The string at `key` (absent: ""); false if it is there but no string.
bool GetString(const json& j, const char* key, std::string* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  *out = it->get<std::string>();
  return true;
}

Result<GuestRecord> FromJson(const std::string& text, const std::string& path) {
  auto bad = [&](std::string_view why) {
    return DataLossError(fmt::format("guest state \"{}\" is malformed: {}", path, why));
  };
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return bad("not a JSON object");
  GuestRecord r;
  std::string result;
  if (!GetString(j, "vmid", &r.vmid) || r.vmid.empty()) return bad("no vmid");
  if (!GetString(j, "result", &result)) return bad("result is no string");
  auto outcome = OutcomeFromName(result);
  if (!outcome) return bad(fmt::format("unknown result '{}'", result));
  r.result = *outcome;
  auto time = j.find("time");
  if (time == j.end() || !time->is_number_integer()) return bad("no time");
  r.time = time->get<int64_t>();
  if (!GetString(j, "storage", &r.storage) || !GetString(j, "dumpdir", &r.dumpdir) ||
      !GetString(j, "job-id", &r.job_id) || !GetString(j, "message", &r.message) ||
      !GetString(j, "archive", &r.archive))
    return bad("a text field is no string");
  auto size = j.find("size");
  if (size != j.end() && size->is_number_unsigned()) r.size = size->get<uint64_t>();
  auto logical = j.find("logical-bytes");
  if (logical != j.end() && logical->is_number_unsigned())
    r.logical_bytes = logical->get<uint64_t>();
  auto seconds = j.find("seconds");
  if (seconds != j.end() && seconds->is_number_integer()) r.seconds = seconds->get<int64_t>();
  auto warnings = j.find("warnings");
  if (warnings != j.end() && warnings->is_number_integer()) r.warnings = warnings->get<int>();
  return r;
}

}  // namespace

const char* GuestOutcomeName(GuestOutcome o) {
  switch (o) {
    case GuestOutcome::kOk:
      return "ok";
    case GuestOutcome::kWarning:
      return "warning";
    case GuestOutcome::kError:
      break;
  }
  return "error";
}

Result<std::string> GuestRecordPath(const std::string& state_dir, const std::string& vmid) {
  if (vmid.empty() || vmid.front() == '.' || vmid.find('/') != std::string::npos ||
      vmid.find('\0') != std::string::npos)
    return InvalidArgumentError(
        fmt::format("container name '{}' cannot name a guest state file", vmid));
  return fmt::format("{}/guests/{}{}", state_dir, vmid, kSuffix);
}

Status WriteGuestRecord(const std::string& state_dir, const GuestRecord& record) {
  ASSIGN_OR_RETURN(std::string path, GuestRecordPath(state_dir, record.vmid));
  RETURN_IF_ERROR(sys::MakeDirs(state_dir + "/guests", 0755));
  // Never aborts on names or messages that are not UTF-8: U+FFFD instead.
  std::string text = ToJson(record).dump(1, ' ', false, json::error_handler_t::replace) + "\n";
  return sys::WriteFileAtomic(path, text, 0644);
}

Result<GuestRecord> ReadGuestRecord(const std::string& state_dir, const std::string& vmid) {
  ASSIGN_OR_RETURN(std::string path, GuestRecordPath(state_dir, vmid));
  auto text = sys::ReadRegularFile(path, kMaxGuestRecordSize);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) return text.status();
    return DataLossError(
        fmt::format("guest state \"{}\" cannot be read: {}", path, text.status().message()));
  }
  ASSIGN_OR_RETURN(GuestRecord r, FromJson(*text, path));
  if (r.vmid != vmid)
    return DataLossError(
        fmt::format("guest state \"{}\" is malformed: it is for container '{}'", path, r.vmid));
  return r;
}

Status RemoveGuestRecord(const std::string& state_dir, const std::string& vmid) {
  ASSIGN_OR_RETURN(std::string path, GuestRecordPath(state_dir, vmid));
  if (::unlink(path.c_str()) == 0) return Status::OK();
  if (errno == ENOENT)
    return NotFoundError(
        fmt::format("container '{}' has no recorded last job (no \"{}\")", vmid, path));
  return ErrnoError(errno, fmt::format("Failed to remove \"{}\"", path));
}

Result<std::vector<GuestRecord>> ReadGuestRecords(const std::string& state_dir,
                                                  std::vector<std::string>* problems) {
  const std::string dir = state_dir + "/guests";
  std::vector<GuestRecord> out;
  sys::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return out;
    return ErrnoError(errno, fmt::format("Failed to open \"{}\"", dir));
  }
  std::vector<std::string> vmids;
  RETURN_IF_ERROR(sys::VisitDirectoryAt(
      fd.get(), fmt::format("\"{}\"", dir), [&](std::string_view name, unsigned char) {
        if (name.size() > kSuffix.size() && name.ends_with(kSuffix) && !name.starts_with("."))
          vmids.emplace_back(name.substr(0, name.size() - kSuffix.size()));
        return true;
      }));
  std::sort(vmids.begin(), vmids.end());
  for (const auto& vmid : vmids) {
    auto r = ReadGuestRecord(state_dir, vmid);
    if (r.ok())
      out.push_back(std::move(*r));
    else if (r.status().code() != Code::kNotFound && problems)  // removed meanwhile: none
      problems->push_back(r.status().message());
  }
  return out;
}

std::vector<GuestRecord> GuestRecordsOf(const ResolvedJobOptions& options, const JobResult& result,
                                        int64_t end_time) {
  std::vector<GuestRecord> out;
  for (const auto& vmid : options.vmids) {
    GuestRecord r;
    r.vmid = vmid;
    r.time = end_time;
    r.storage = options.storage;
    r.dumpdir = options.dumpdir;
    r.job_id = options.job_id;
    auto g = std::find_if(result.guests.begin(), result.guests.end(),
                          [&](const GuestResult& x) { return x.vmid == vmid; });
    if (g == result.guests.end()) {
      r.result = GuestOutcome::kError;
      r.message = result.status.ok()
                      ? "the backup job ended before this container's backup"
                      : fmt::format("the backup job failed before this container's backup: {}",
                                    result.status.message());
    } else {
      r.result = !g->status.ok()   ? GuestOutcome::kError
                 : g->warnings > 0 ? GuestOutcome::kWarning
                                   : GuestOutcome::kOk;
      if (!g->status.ok()) r.message = g->status.message();
      r.archive = g->archive;
      r.size = g->size;
      r.logical_bytes = g->logical_bytes;
      r.seconds = g->seconds;
      r.warnings = g->warnings;
    }
    out.push_back(std::move(r));
  }
  return out;
}

namespace {

void WriteAll(const std::string& state_dir, const std::vector<GuestRecord>& records,
              Observer* observer) {
  for (const auto& r : records) {
    Status s = WriteGuestRecord(state_dir, r);
    if (!s.ok() && observer)
      observer->Log(LogLevel::kWarn,
                    fmt::format("could not record the result of container '{}' for "
                                "'ctdump status': {}",
                                r.vmid, s.message()));
  }
}

}  // namespace

void RecordJobResult(const std::string& state_dir, const ResolvedJobOptions& options,
                     const JobResult& result, Observer* observer) {
  WriteAll(state_dir, GuestRecordsOf(options, result, ::time(nullptr)), observer);
}

void RecordJobFailure(const std::string& state_dir, const std::vector<std::string>& vmids,
                      const std::string& storage, const std::string& job_id, const Status& why,
                      Observer* observer) {
  std::vector<GuestRecord> records;
  for (const auto& vmid : SplitGuestList(vmids)) {
    GuestRecord r;
    r.vmid = vmid;
    r.time = ::time(nullptr);
    r.storage = storage;
    r.job_id = job_id;
    r.result = GuestOutcome::kError;
    r.message = fmt::format("the backup job failed before it started: {}", why.message());
    records.push_back(std::move(r));
  }
  WriteAll(state_dir, records, observer);
}

}  // namespace ctdump::backup
