// Tasks: PVE-style background jobs (docs/design/api-server.md §3).
//
// A task is one `ctdump` subcommand run by a worker process, `ctdump __task
// --type T --id I --user U -- <subcommand>`, in its own session. It is named
// by its UPID, `UPID:<node>:<PID8>:<PSTART8>:<STARTTIME8>:<type>:<id>:<user>:`
// (PVE's format, docs/design/pve-api-facts.md §4), which the worker computes
// itself from getpid(), its start time in clock ticks (field 22 of
// /proc/self/stat) and time(): the pid in the UPID is the process doing the
// work, and pid + pstart tell it apart from a later process with the same pid.
//
// Everything lives in files under `<log-dir>/tasks/` (task_dir.h), nothing in
// memory: tasks outlive the daemon that started them, and any process can
// list them, read their logs, ask their status and abort them.
//
//   upid.h         the UPID value type: encode, decode (PVE's regex), checks
//   task_dir.h     the directory: logs, `index` (+ rotation), `active/`, listing
//   task_status.h  running (from /proc), exit status (the log's last line), abort
//   task_log.h     reading a log as PVE's numbered lines
//   worker.h       the worker's start and end, and SpawnTask for the server
//
// Concurrency: appends to `index` and moves out of `active/` happen under
// flock on `tasks/.lock`; a log is written by its worker only (and read by
// anyone); readers never lock.
#ifndef CTDUMP_TASKS_UPID_H_
#define CTDUMP_TASKS_UPID_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "ctdump/status.h"

namespace ctdump::tasks {

struct Upid {
  std::string node;        // host name up to the first dot: [a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?
  uint32_t pid = 0;        // 8 hex digits
  uint64_t pstart = 0;     // clock ticks since boot; 8 or 9 hex digits
  uint32_t starttime = 0;  // epoch seconds, 8 hex digits
  std::string type;        // [^:\s/]+ ("vzdump", "vzrestore", "imgdel")
  std::string id;          // [^:\s/]* (the container, may be empty)
  std::string user;        // [^:\s/]+ ("root@pam", a token "u@pve!tok")

  friend bool operator==(const Upid&, const Upid&) = default;
};

// A UPID is a file name: never longer than this.
inline constexpr size_t kMaxUpidLength = 255;
// The largest pstart the format carries (9 hex digits).
inline constexpr uint64_t kMaxPstart = 0xFFFFFFFFFull;

// "UPID:...:" with uppercase hex (pstart with 8 digits, 9 when it needs them).
// The fields must pass CheckUpid (not checked here).
std::string EncodeUpid(const Upid& upid);

// PVE's decode regex (facts §4), hex in either case:
//   ^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):
//   ([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$
// Stricter than Perl in two points: `$` does not accept a trailing newline,
// and control characters (NUL...) are refused in type, id and user, as is a
// UPID longer than kMaxUpidLength. InvalidArgument "unable to parse worker
// upid '<text>'" otherwise (the text escaped when it is not printable).
Result<Upid> DecodeUpid(std::string_view text);

// Checks the text fields against the regex above (pid, pstart, starttime are
// in range by type, pstart up to kMaxPstart). InvalidArgument naming the
// field and what is wrong.
Status CheckUpid(const Upid& upid);
Status CheckNode(std::string_view node);
Status CheckTaskType(std::string_view type);
Status CheckTaskId(std::string_view id);
Status CheckTaskUser(std::string_view user);

// The id for a container name: the name when it is a valid id ([^:\s/]+,
// no control characters), else empty (as PVE, which leaves it empty when no
// single guest is meant).
std::string TaskIdFor(std::string_view name);

// The host name up to the first dot (PVE's nodename).
std::string ShortHostname();

}  // namespace ctdump::tasks

#endif  // CTDUMP_TASKS_UPID_H_
