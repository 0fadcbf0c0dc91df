// Each container's last backup result, kept for monitoring (`ctdump status`).
//
// RunBackupJob records, at the end of every job, one record per selected
// container in <state_dir>/guests/<vmid>.json (Paths::state_dir), replacing
// the container's previous one atomically:
//   {"vmid": "web", "time": <unix s: the end of the job>,
//    "storage": "<id>" (or "" with "dumpdir": "<dir>"), "job-id": "<id>",
//    "result": "ok" | "warning" | "error", "message": "<why>",
//    "archive": "<name>", "size": <bytes>, "seconds": <n>, "warnings": <n>,
//    "logical-bytes": <bytes>}   (the next backup's progress total; optional)
// A container the job never reached (it failed first: storage, lock,
// job-init...) gets "error" with the job's failure. Writing is best effort:
// a failing write is a warning, never a failed backup.
//
// Readers take a record that cannot be read or parsed as a problem naming
// the file (status reports it as a warning), never as "no result".
#ifndef CTDUMP_BACKUP_GUEST_STATE_H_
#define CTDUMP_BACKUP_GUEST_STATE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backup/job.h"
#include "backup/job_options.h"
#include "ctdump/observer.h"
#include "ctdump/status.h"

namespace ctdump::backup {

enum class GuestOutcome { kOk, kWarning, kError };
const char* GuestOutcomeName(GuestOutcome o);  // "ok", "warning", "error"

struct GuestRecord {
  std::string vmid;
  int64_t time = 0;     // unix s: the end of the job that backed it up
  std::string storage;  // storage id; empty with dumpdir
  std::string dumpdir;  // vzdump's --dumpdir, when used instead of a storage
  std::string job_id;   // jobs.cfg id; empty from the command line
  GuestOutcome result = GuestOutcome::kError;
  std::string message;  // the error (result kError)
  std::string archive;  // the archive made, when the provider named one
  std::optional<uint64_t> size;
  std::optional<uint64_t> logical_bytes;  // GuestResult::logical_bytes
  int64_t seconds = 0;
  int warnings = 0;

  bool operator==(const GuestRecord&) const = default;
};

// Records larger than this are refused when read.
inline constexpr size_t kMaxGuestRecordSize = 256 << 10;

// <state_dir>/guests/<vmid>.json; InvalidArgument for a vmid that cannot be
// a file name (empty, '/', leading '.').
Result<std::string> GuestRecordPath(const std::string& state_dir, const std::string& vmid);

// Writes the record atomically (creating <state_dir>/guests).
Status WriteGuestRecord(const std::string& state_dir, const GuestRecord& record);

// The container's record: NotFound when there is none; DataLoss naming the
// file when it cannot be parsed (or is not a regular file of at most
// kMaxGuestRecordSize).
Result<GuestRecord> ReadGuestRecord(const std::string& state_dir, const std::string& vmid);

// Removes the container's record (`ctdump status --forget`): NotFound
// naming the file when there is none.
Status RemoveGuestRecord(const std::string& state_dir, const std::string& vmid);

// Every record, by vmid. A missing directory is none. Records that cannot be
// read are left out, each named in `problems` ("<file>: <why>").
Result<std::vector<GuestRecord>> ReadGuestRecords(const std::string& state_dir,
                                                  std::vector<std::string>* problems);

// The records a finished job leaves: one per selected container, in order.
// `end_time`: the job's end (for containers it never reached).
// The job id is options.job_id.
std::vector<GuestRecord> GuestRecordsOf(const ResolvedJobOptions& options, const JobResult& result,
                                        int64_t end_time);

// Writes GuestRecordsOf(...) with the current time; failures are warnings
// through `observer`.
void RecordJobResult(const std::string& state_dir, const ResolvedJobOptions& options,
                     const JobResult& result, Observer* observer);

// For a job that failed before RunBackupJob (its options did not resolve):
// each named container (`vmids` as the job gives them, PVE lists allowed)
// gets an "error" record with `why`. Failures are warnings through `observer`.
void RecordJobFailure(const std::string& state_dir, const std::vector<std::string>& vmids,
                      const std::string& storage, const std::string& job_id, const Status& why,
                      Observer* observer);

}  // namespace ctdump::backup

#endif  // CTDUMP_BACKUP_GUEST_STATE_H_
