// Edits of jobs.cfg's text that keep everything else byte for byte
// (docs/design/api-server.md §5.4): add, replace or remove one section,
// using the section parser's line ranges (ParseSectionConfigLines).
//
// A section's block is its header line and the lines after it up to a blank
// line or the next header; comment lines inside it stay where they are.
//   * Add appends the section at the end, after one blank line.
//   * Replace keeps the header line; an option line whose key keeps its value
//     is kept as written, one with another value is rewritten in place, one
//     whose key is gone is dropped (so is a line the parser refused); new
//     keys follow the last option line, in the order given.
//   * Remove drops the header and option lines; comment lines inside the
//     block stay. Without such comments, one blank line next to the block
//     goes too, so removals do not pile up blank lines.
// New lines are "<type>: <id>" and "\t<key> <value>" (PVE's form).
//
// The new text is parsed back with ParseJobsConfig; an error on a line of
// the edited section refuses the edit: InvalidArgument "<why>" with one
// message per key in *key_errors (the header's errors under "id"). Errors of
// other sections (already broken) do not refuse it. Values with a line feed,
// carriage return or NUL, empty values and values with leading or trailing
// white space (the parser would read something else) are refused the same
// way before parsing.
//
// Pure: no I/O. The caller writes the text (under a lock, atomically).
#ifndef CTDUMP_JOBS_JOB_CONFIG_EDIT_H_
#define CTDUMP_JOBS_JOB_CONFIG_EDIT_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ctdump/section_config.h"
#include "ctdump/status.h"

namespace ctdump::jobs {

// key -> why (PVE's per-parameter "errors"); "id" for the header.
using KeyErrors = std::map<std::string, std::string>;

// The section `id` as written (broken or not; any type), or nullopt.
std::optional<Section> FindJobSection(std::string_view text, const std::string& filename,
                                      std::string_view id);

// AlreadyExists "Job '<id>' already exists" when any section has the id.
Result<std::string> AddJobSection(std::string_view text, const std::string& filename,
                                  const Section& section, KeyErrors* key_errors);

// NotFound "No such job '<id>'" unless a section of section.type has the id.
Result<std::string> ReplaceJobSection(std::string_view text, const std::string& filename,
                                      const Section& section, KeyErrors* key_errors);

// NotFound "No such job '<id>'" unless a section of `type` has the id.
Result<std::string> RemoveJobSection(std::string_view text, const std::string& filename,
                                     std::string_view type, std::string_view id);

}  // namespace ctdump::jobs

#endif  // CTDUMP_JOBS_JOB_CONFIG_EDIT_H_
