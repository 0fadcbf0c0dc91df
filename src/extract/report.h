// How the extraction child reports to ctdump: lines on its stderr.
//
//   "W <message>"   a warning (e.g. libarchive could not restore a time or
//                   an xattr); extraction goes on
//   "U <path>"      an entry whose owner or ACL entries fell back (only the
//                   first kMaxUnmappedExamples)
//   "P <entries> <bytes>"   entries and file data written so far (at most
//                   every 250 ms; progress only)
//   "E <message>"   an error; the child exits non-zero (see kExit*) after it
//   "S <entries> <bytes> <skipped_existing> <unmapped_ids> <stripped_privileges>
//      <unmapped_acl_entries>"   once, last
//
// Text is escaped ('\' -> "\\", newline -> "\n") so that a member name with
// a newline stays one line. Anything else on stderr (a crash message) is
// passed on as a warning. The child never needs the parent's answer, so the
// channel is one-way and a child that dies mid-line loses nothing but that
// line.
#ifndef CTDUMP_EXTRACT_REPORT_H_
#define CTDUMP_EXTRACT_REPORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/status.h"
#include "extract/extract.h"

namespace ctdump::extract {

inline constexpr size_t kMaxUnmappedExamples = 10;
// Warnings beyond this many are counted, not logged one by one.
inline constexpr size_t kMaxLoggedWarnings = 100;

// The child's exit codes; they choose the Status code of its first error.
inline constexpr int kExitOk = 0;
inline constexpr int kExitIOError = 1;  // writing the tree failed
inline constexpr int kExitRefused = 2;  // a member broke the rules (InvalidArgument)
inline constexpr int kExitCorrupt = 3;  // the stream is corrupt or truncated (DataLoss)

// One encoded line, with its trailing newline.
std::string EncodeReport(char kind, std::string_view text);
std::string EncodeStats(const ExtractStats& stats);

struct ReportLine {
  char kind = 0;
  std::string text;  // unescaped
};
// nullopt for a line that is not "<kind> <text>" with a known kind.
std::optional<ReportLine> DecodeReport(std::string_view line);

// Parent side: splits the child's stderr into lines, forwards warnings to
// the observer as they arrive, and keeps errors, examples and the stats.
class ReportCollector {
 public:
  explicit ReportCollector(Observer* observer) : observer_(observer) {}

  void Feed(std::string_view data);
  // End of input: handles a last unterminated line and logs how many
  // warnings were not shown.
  void Finish();

  const std::vector<std::string>& errors() const { return errors_; }
  // The last line that was no report (a crash message), "" if none.
  const std::string& last_other() const { return last_other_; }
  // The child's final statistics with the unmapped examples; nullopt if the
  // "S" line never came.
  std::optional<ExtractStats> stats() const;
  // The latest "P" (or the stats once they came): entries and file bytes
  // written so far.
  uint64_t entries() const { return stats_ ? stats_->entries : entries_; }
  uint64_t bytes() const { return stats_ ? stats_->bytes : bytes_; }

 private:
  void HandleLine(std::string_view line);
  void Warn(std::string message);

  Observer* observer_;
  std::string partial_;
  std::string last_other_;
  std::vector<std::string> errors_;
  std::vector<std::string> examples_;
  std::optional<ExtractStats> stats_;
  size_t warnings_ = 0;
  uint64_t entries_ = 0, bytes_ = 0;
};

// The Status for a child that ended with `wait_status` after reporting
// `errors` while extracting `what` (e.g. "'/path/x.tar'"). `other`, the
// last line that was no report, explains a child that failed without one
// (libarchive exits with "Fatal Internal Error in libarchive: Out of
// memory" when an allocation fails deep in its header parsing).
Status ChildStatus(int wait_status, const std::vector<std::string>& errors, std::string_view what,
                   std::string_view other = "");

// Lines longer than this (the child writes short ones) are cut: a child
// that writes without newlines cannot grow the parent's memory.
inline constexpr size_t kMaxReportLine = 64 * 1024;

}  // namespace ctdump::extract

#endif  // CTDUMP_EXTRACT_REPORT_H_
