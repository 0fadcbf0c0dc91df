// `ctdump scheduler`: the foreground daemon that runs the jobs of jobs.cfg on
// their schedules, as PVE's pvescheduler does (packaging/systemd/
// ctdump-scheduler.service runs it).
//
// Each minute boundary (and on SIGHUP) it re-reads jobs.cfg, computes which
// jobs are due (jobs/schedule.h: a pure function of job, state and now) and
// runs them one at a time, each as a child process `ctdump [global options]
// job run <id>` that records its own state and sends its own notification.
// A child that dies without recording its end (a crash, SIGKILL) is recorded
// as failed and notified here, and the scheduler goes on. Broken sections of
// jobs.cfg (and a broken notifications.cfg) are logged and notified (type
// system) once per distinct error; the other jobs still run.
//
// SIGTERM / SIGINT: forwarded as SIGTERM to the running job (a backup then
// aborts cleanly: containers restarted or thawed, mounts and locks gone); the
// scheduler waits for it and exits 0. One scheduler per run dir
// (<run_dir>/scheduler.pid, a flock).
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <map>
#include <set>

#include "cli/commands.h"
#include "jobs/job_config.h"
#include "jobs/job_notification.h"
#include "jobs/job_state.h"
#include "jobs/schedule.h"
#include "sys/file.h"
#include "sys/lock_file.h"
#include "sys/signals.h"
#include "sys/subprocess.h"
#include "sys/unique_fd.h"

namespace ctdump::cli {
namespace {

// SIGHUP: reload now. sys/signals.h turns SIGHUP into an interruption like
// SIGTERM; the scheduler gives it its own handler and self-pipe.
std::atomic<bool> g_hup{false};
int g_hup_pipe[2] = {-1, -1};

void OnHup(int) {
  int saved = errno;
  g_hup.store(true);
  char c = 1;
  [[maybe_unused]] ssize_t n = ::write(g_hup_pipe[1], &c, 1);
  errno = saved;
}

void InstallHupHandler() {
  if (g_hup_pipe[0] < 0 && ::pipe2(g_hup_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return;
  struct sigaction sa {};
  sa.sa_handler = OnHup;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGHUP, &sa, nullptr);
}

bool TakeHup() {
  char buf[64];
  while (::read(g_hup_pipe[0], buf, sizeof(buf)) > 0) {
  }
  return g_hup.exchange(false);
}

bool Interrupted() { return !sys::CheckInterrupted().ok(); }

// Milliseconds until just after the next minute boundary.
int MillisToNextMinute() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  int64_t ms = (ts.tv_sec % 60) * 1000 + ts.tv_nsec / 1000000;
  return static_cast<int>(60000 - ms + 50);
}

struct SchedulerArgs {
  bool once = false;
};

class Scheduler {
 public:
  Scheduler(const Context& ctx, Renderer& out) : ctx_(ctx), out_(out) {}

  // One pass over jobs.cfg; runs the due jobs one after the other.
  void Tick(bool startup);
  // Waits for the next minute, SIGHUP or SIGTERM; false on SIGTERM/SIGINT.
  bool Sleep();

 private:
  void ReportErrors(const std::vector<Status>& errors);
  void Notify(const std::string& type, const std::string& title, const std::string& error,
              const std::string& job_id, const jobs::NotifySettings& settings);
  void RunJob(const jobs::JobConfig& job, const std::string& state_path);
  // The job's process ended (or is gone) without recording its end.
  void RecordLostRun(const jobs::JobConfig& job, const std::string& state_path,
                     const std::string& why);
  void Save(const std::string& path, const jobs::JobState& state);

  const Context& ctx_;
  Renderer& out_;
  std::set<std::string> reported_;  // config errors notified, as long as they persist
  // When each job was first seen, should its state not be writable (else a
  // job whose `created` cannot be saved would count from "now" every minute).
  std::map<std::string, int64_t> first_seen_;
};

void Scheduler::Notify(const std::string& type, const std::string& title, const std::string& error,
                       const std::string& job_id, const jobs::NotifySettings& settings) {
  std::string host = jobs::ShortHostname();
  auto n = jobs::TaskNotification(type, false, title, error, {}, host, job_id, ::time(nullptr));
  jobs::SendNotification(ctx_.paths.config_dir, settings, n, &out_);
}

void Scheduler::ReportErrors(const std::vector<Status>& errors) {
  std::set<std::string> now;
  std::string fresh;
  for (const Status& e : errors) {
    now.insert(e.message());
    if (reported_.count(e.message())) continue;
    out_.Log(LogLevel::kErr, e.message());
    fresh += e.message() + "\n";
  }
  reported_ = now;
  if (fresh.empty()) return;
  Notify("system",
         fmt::format("ctdump scheduler ({}): configuration errors, jobs left out",
                     jobs::ShortHostname()),
         "The scheduler runs the jobs it can read; these are left out until fixed:\n" + fresh, "",
         jobs::NotifySettings());
}

void Scheduler::Save(const std::string& path, const jobs::JobState& state) {
  Status s = jobs::SaveJobState(path, state);
  if (!s.ok()) out_.Log(LogLevel::kWarn, "cannot write the job state: " + s.message());
}

void Scheduler::RecordLostRun(const jobs::JobConfig& job, const std::string& state_path,
                              const std::string& why) {
  auto state = jobs::LoadJobState(state_path);
  jobs::JobState s = state.ok() ? *state : jobs::JobState();
  s.last_end = ::time(nullptr);
  s.pid.reset();
  s.result = "error";
  s.message = why;
  Save(state_path, s);
  std::string error = fmt::format("job '{}' failed: {}", job.id, why);
  out_.Log(LogLevel::kErr, error);
  jobs::NotifySettings settings;
  std::string title;
  std::string host = jobs::ShortHostname();
  if (job.type == jobs::JobType::kVzdump) {
    // As the job itself would have: its mailto etc., else ctdump.conf's.
    settings = job.notify;
    auto node = backup::LoadNodeDefaults(ctx_.paths.config_dir);
    if (node.ok()) {
      auto merged = jobs::MergeNotifySettings(settings, *node);
      if (merged.ok()) settings = *merged;
    }
    title = fmt::format("vzdump backup status ({}): backup failed", host);
  } else {
    title = fmt::format("{} job '{}' ({}): failed", jobs::JobTypeName(job.type), job.id, host);
  }
  Notify(std::string(jobs::JobTypeName(job.type)), title, error, job.id, settings);
}

void Scheduler::RunJob(const jobs::JobConfig& job, const std::string& state_path) {
  const backup::Paths& p = ctx_.paths;
  sys::SpawnOptions o;
  o.argv = {"/proc/self/exe", "--lxcpath", p.lxcpath, "--config-dir",
            p.config_dir,     "job",       "run",     job.id};
  o.extra_env = {"CTDUMP_LOG_DIR=" + p.log_dir, "CTDUMP_RUN_DIR=" + p.run_dir,
                 "CTDUMP_STATE_DIR=" + p.state_dir};
  // Its own session: a terminal's ^C reaches the scheduler only, which
  // forwards SIGTERM; killing the Subprocess kills the job's whole group.
  o.new_session = true;
  out_.Log(LogLevel::kInfo,
           fmt::format("starting {} job '{}'", jobs::JobTypeName(job.type), job.id));
  auto child = sys::Spawn(o);
  if (!child.ok()) {
    RecordLostRun(job, state_path, "cannot start the job: " + child.status().message());
    return;
  }
  const int64_t start = ::time(nullptr);
  int forwarded_signals = sys::InterruptCount();
  for (;;) {
    auto done = child->WaitFor(std::chrono::milliseconds(0));
    if (!done.ok()) {
      RecordLostRun(job, state_path, "cannot wait for the job: " + done.status().message());
      return;
    }
    if (*done) {
      int st = **done;
      int64_t secs = ::time(nullptr) - start;
      auto state = jobs::LoadJobState(state_path);
      bool recorded = state.ok() && !(state->pid && *state->pid == child->pid());
      if (WIFEXITED(st) && recorded) {
        out_.Log(
            WEXITSTATUS(st) == 0 ? LogLevel::kInfo : LogLevel::kErr,
            fmt::format("{} job '{}' finished after {}: {}", jobs::JobTypeName(job.type), job.id,
                        jobs::FormatDuration(secs),
                        WEXITSTATUS(st) == 0 ? std::string("ok") : sys::DescribeWaitStatus(st)));
      } else {
        RecordLostRun(job, state_path,
                      fmt::format("the job's process {} without recording its end",
                                  sys::DescribeWaitStatus(st)));
      }
      return;
    }
    if (sys::InterruptCount() != forwarded_signals) {
      forwarded_signals = sys::InterruptCount();
      out_.Log(LogLevel::kInfo,
               fmt::format("stopping: sending SIGTERM to job '{}' (pid {}) and waiting for it",
                           job.id, child->pid()));
      child->Kill(SIGTERM);
    }
    pollfd fds[3] = {
        {child->pidfd(), POLLIN, 0}, {sys::InterruptFd(), POLLIN, 0}, {g_hup_pipe[0], POLLIN, 0}};
    int timeout = child->pidfd() < 0 ? 200 : 60000;
    int r = ::poll(fds, 3, timeout);
    if (r > 0 && (fds[2].revents & POLLIN) && TakeHup())
      out_.Log(LogLevel::kInfo, "SIGHUP: jobs.cfg is read again after the running job");
    if (r > 0 && (fds[1].revents & POLLIN)) {
      char buf[64];
      while (::read(sys::InterruptFd(), buf, sizeof(buf)) > 0) {
      }
    }
  }
}

void Scheduler::Tick(bool startup) {
  auto cfg = jobs::LoadJobsConfig(ctx_.paths.config_dir);
  std::vector<Status> errors;
  if (!cfg.ok()) {
    errors.push_back(cfg.status());
  } else {
    errors = cfg->errors;
  }
  Status n = jobs::CheckNotifyConfig(ctx_.paths.config_dir);
  if (!n.ok()) errors.push_back(n);
  ReportErrors(errors);
  if (!cfg.ok()) return;
  for (const jobs::JobConfig& job : cfg->jobs) {
    if (Interrupted()) return;
    std::string path = jobs::JobStatePath(ctx_.paths.state_dir, job.StateKey());
    auto loaded = jobs::LoadJobState(path);
    jobs::JobState state;
    if (loaded.ok()) {
      state = *loaded;
    } else {
      out_.Log(LogLevel::kWarn, loaded.status().message() + " (starting a new state)");
    }
    int64_t now = ::time(nullptr);
    if (state.pid) {
      if (sys::ProcessAlive(static_cast<pid_t>(*state.pid))) continue;  // `job run` by hand
      RecordLostRun(
          job, path,
          fmt::format("the job's process {} is gone without recording its end", *state.pid));
      continue;
    }
    if (!state.created) {
      auto seen = first_seen_.emplace(job.StateKey(), now).first;
      state.created = seen->second;
      Save(path, state);
    }
    jobs::Due due = jobs::ComputeDue(job, state, now, startup);
    if (due.action == jobs::DueAction::kSkip) {
      state.last_skip = now;
      Save(path, state);
      if (due.missed)
        out_.Log(LogLevel::kInfo,
                 fmt::format("{} job '{}': a run was missed while the scheduler was not "
                             "running; skipped (repeat-missed 0), next run {}",
                             jobs::JobTypeName(job.type), job.id,
                             due.next_run ? jobs::FormatLocalTime(*due.next_run) : "none"));
      continue;
    }
    if (due.action != jobs::DueAction::kRun) continue;
    if (due.missed)
      out_.Log(LogLevel::kInfo, fmt::format("{} job '{}': running a run missed while the "
                                            "scheduler was not running (repeat-missed 1)",
                                            jobs::JobTypeName(job.type), job.id));
    RunJob(job, path);
  }
}

bool Scheduler::Sleep() {
  for (;;) {
    if (Interrupted()) return false;
    pollfd fds[2] = {{sys::InterruptFd(), POLLIN, 0}, {g_hup_pipe[0], POLLIN, 0}};
    int r = ::poll(fds, 2, MillisToNextMinute());
    if (Interrupted()) return false;
    if (r == 0) return true;
    if (r > 0 && (fds[1].revents & POLLIN) && TakeHup()) {
      out_.Log(LogLevel::kInfo, "SIGHUP: reading jobs.cfg again");
      return true;
    }
  }
}

int RunScheduler(const Context& ctx, const SchedulerArgs& args) {
  auto out = MakeRenderer(ctx);
  InstallHupHandler();
  Status s = sys::MakeDirs(ctx.paths.run_dir, 0755);
  if (!s.ok()) return Fail(*out, s);
  std::string pidfile = ctx.paths.run_dir + "/scheduler.pid";
  auto lock = sys::LockFile::Acquire(pidfile, std::chrono::milliseconds(0),
                                     [&](const auto& m) { out->Log(LogLevel::kInfo, m); });
  if (!lock.ok()) {
    return Fail(*out, lock.status().code() == Code::kUnavailable
                          ? FailedPreconditionError("another scheduler is running: " +
                                                    lock.status().message())
                          : lock.status());
  }
  out->Log(LogLevel::kInfo,
           fmt::format("ctdump scheduler started (jobs: {}/jobs.cfg, states: {}/jobs)",
                       ctx.paths.config_dir, ctx.paths.state_dir));
  Scheduler scheduler(ctx, *out);
  bool startup = true;
  for (;;) {
    scheduler.Tick(startup);
    startup = false;
    if (args.once || !scheduler.Sleep()) break;
  }
  out->Log(LogLevel::kInfo, Interrupted() ? "ctdump scheduler stopped by signal"
                                          : "ctdump scheduler finished (--once)");
  return kExitOk;
}

}  // namespace

void RegisterScheduler(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<SchedulerArgs>();
  auto* s = app.add_subcommand("scheduler",
                               "run the jobs of jobs.cfg on their schedules (a foreground daemon)");
  s->add_flag("--once", args->once, "one pass over the jobs (running the due ones), then exit");
  ctx.AddRunner(s, [&ctx, args] { return RunScheduler(ctx, *args); });
}

}  // namespace ctdump::cli
