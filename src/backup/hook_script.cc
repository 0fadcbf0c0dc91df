#include "backup/hook_script.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/wait.h>

#include "sys/subprocess.h"

namespace ctdump::backup {

Status HookScript::RunJobPhase(const std::string& phase, const HookEnv& env) const {
  return Run({script_, phase}, env, observer_);
}

Status HookScript::RunGuestPhase(const std::string& phase, const std::string& mode,
                                 const std::string& vmid, const HookEnv& env, Observer* log) const {
  return Run({script_, phase, mode, vmid}, env, log);
}

Status HookScript::Run(std::vector<std::string> argv, const HookEnv& env, Observer* log) const {
  if (!enabled()) return Status::OK();
  sys::SpawnOptions o;
  o.argv = argv;
  o.env = std::vector<std::string>();
  for (const char* keep : {"PATH", "LANG", "LC_ALL", "TZ", "HOME"})
    if (const char* v = ::getenv(keep)) o.env->push_back(fmt::format("{}={}", keep, v));
  for (const auto& [name, value] : {std::pair{"STOREID", &env.storeid},
                                    {"DUMPDIR", &env.dumpdir},
                                    {"VMTYPE", &env.vmtype},
                                    {"HOSTNAME", &env.hostname},
                                    {"TARGET", &env.target},
                                    {"LOGFILE", &env.logfile}})
    if (!value->empty()) o.env->push_back(fmt::format("{}={}", name, *value));
  std::string cmd = fmt::format("{}", fmt::join(argv, " "));
  auto r = sys::RunCommand(o, [log](const std::string& line) { log->Log(LogLevel::kInfo, line); });
  if (!r.ok()) return r.status().WithContext(fmt::format("command '{}' failed", cmd));
  if (!sys::ExitedOk(r->wait_status)) {
    int st = r->wait_status;
    std::string why =
        WIFEXITED(st) ? fmt::format("exit code {}", WEXITSTATUS(st)) : sys::DescribeWaitStatus(st);
    return FailedPreconditionError(fmt::format("command '{}' failed: {}", cmd, why));
  }
  return Status::OK();
}

}  // namespace ctdump::backup
