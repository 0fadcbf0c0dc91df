#include "jobs/job_list.h"

#include "jobs/schedule.h"

namespace ctdump::jobs {

ListedJob DescribeJob(const std::string& state_dir, const std::string& run_dir,
                      const JobConfig& job, int64_t now, std::vector<std::string>* warnings) {
  ListedJob l{&job, {}, false, std::nullopt};
  auto warn = [warnings](const Status& s) {
    if (warnings) warnings->push_back(s.message());
  };
  auto state = LoadJobState(JobStatePath(state_dir, job.StateKey()));
  if (state.ok())
    l.state = *state;
  else
    warn(state.status());
  // Running: its lock is held (a pid in the state may be reused after a crash).
  auto held = JobLockHeld(JobLockPath(run_dir, job.StateKey()));
  if (!held.ok()) warn(held.status());
  l.running = held.ok() && *held;
  l.next_run = NextRun(job, l.state, now);
  return l;
}

std::string JobResultText(const ListedJob& l) {
  if (l.running) return "running";
  if (l.state.result.empty()) return l.state.last_start ? "aborted" : "-";
  return l.state.result;
}

nlohmann::json JobJson(const ListedJob& l) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : l.job->options) j[k] = v;
  j["id"] = l.job->id;
  j["type"] = std::string(JobTypeName(l.job->type));
  if (l.job->schedule) j["schedule"] = l.job->schedule->text();
  j["enabled"] = l.job->enabled ? 1 : 0;
  j["repeat-missed"] = l.job->repeat_missed ? 1 : 0;
  auto put = [&](const char* key, const std::optional<int64_t>& v) {
    if (v) j[key] = *v;
  };
  put("next-run", l.next_run);
  put("last-run", l.state.last_start);
  put("last-run-end", l.state.last_end);
  j["result"] = JobResultText(l);
  if (!l.state.message.empty()) j["message"] = l.state.message;
  if (l.running && l.state.pid) j["pid"] = *l.state.pid;
  return j;
}

}  // namespace ctdump::jobs
