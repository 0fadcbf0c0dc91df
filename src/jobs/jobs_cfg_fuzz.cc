// libFuzzer target for ParseJobsConfig(): any text gives good jobs plus
// errors, never a crash. Checks that every error is InvalidArgument naming
// the file and a line, and that every job returned is complete (an id, its
// header line, a schedule for vzdump jobs, a storage for the others).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "jobs/job_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string file = "jobs.cfg";
  ctdump::jobs::JobsConfig c = ctdump::jobs::ParseJobsConfig(
      std::string_view(reinterpret_cast<const char*>(data), size), file);
  for (const ctdump::Status& e : c.errors) {
    if (e.code() != ctdump::Code::kInvalidArgument) __builtin_trap();
    if (e.message().rfind(file + ":", 0) != 0) __builtin_trap();
  }
  for (const ctdump::jobs::JobConfig& j : c.jobs) {
    if (j.id.empty() || j.line == 0) __builtin_trap();
    if (j.type == ctdump::jobs::JobType::kVzdump && !j.schedule) __builtin_trap();
    if (j.type == ctdump::jobs::JobType::kSync) {
      if (j.source.empty() || j.target.empty() || j.source == j.target) __builtin_trap();
    } else if (j.type != ctdump::jobs::JobType::kVzdump && j.storage.empty()) {
      __builtin_trap();
    }
    if (c.Find(j.id) != &j) __builtin_trap();
  }
  return 0;
}
