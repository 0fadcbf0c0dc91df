// `ctdump scheduler`: the foreground daemon that runs the jobs of jobs.cfg on
// their schedules, as PVE's pvescheduler does (packaging/systemd/
// ctdump-scheduler.service runs it).
//
// Each minute boundary (and on SIGHUP) it re-reads jobs.cfg, computes which
// jobs are due (jobs/schedule.h: a pure function of job, state and now) and
// runs them one at a time, each as a child process `ctdump [global options]
// job run <id>` that records its own state and sends its own notification.
// "Running" is the job's lock held (jobs/job_state.h, <run_dir>/job-<key>
// .lock, which `job run` holds for its whole run); the scheduler reads and
// writes a job's state only under that lock. A run that started, has no end
// and whose lock is free died (a crash, SIGKILL, power loss): it is recorded
// as failed and notified here, once, and the scheduler goes on. The
// scheduler also keeps what it wrote (first seen, last start, last skip) in
// memory, so that a state file that cannot be written (ENOSPC, read-only)
// does not make a job run every minute. Broken sections of jobs.cfg (and a
// broken notifications.cfg) are logged and notified (type system) once per
// distinct error; the other jobs still run; when notifications.cfg itself
// does not load, that notification goes through PVE's built-in default
// (mail-to-root).
//
// A job that runs longer than --warn-after (default 24 h) holds up every
// other job: it is logged as a warning and notified (type system) once; it is
// not stopped.
//
// SIGTERM / SIGINT: forwarded as SIGTERM to the running job (a backup then
// aborts cleanly: containers restarted or thawed, mounts and locks gone); the
// scheduler waits for it and exits 0. One scheduler per run dir
// (<run_dir>/scheduler.pid, a flock). SIGHUP while a job runs: jobs.cfg is
// read again before the next job.
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
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

// A job running this long is reported (not stopped): --warn-after.
constexpr int64_t kLongRunSeconds = 24 * 3600;

// How long `job run`s lock is waited for by the scheduler once its job ended.
constexpr auto kJobLockWait = std::chrono::seconds(5);

struct SchedulerArgs {
  bool once = false;
  int64_t warn_after = kLongRunSeconds;
};

// The later of two optional times.
std::optional<int64_t> Later(std::optional<int64_t> a, std::optional<int64_t> b) {
  if (!a) return b;
  if (!b) return a;
  return std::max(*a, *b);
}

class Scheduler {
 public:
  Scheduler(const Context& ctx, Renderer& out, int64_t warn_after)
      : ctx_(ctx), out_(out), warn_after_(warn_after) {}

  // One pass over jobs.cfg; runs the due jobs one after the other. `startup`:
  // the first tick since the scheduler started.
  void Tick(bool startup);
  // Waits for the next minute, SIGHUP or SIGTERM; false on SIGTERM/SIGINT.
  bool Sleep();

 private:
  // Reads jobs.cfg and runs what is due; true when a SIGHUP during a job
  // asks for jobs.cfg to be read again before the next job.
  bool Pass(std::optional<int64_t> startup_tick, bool first);
  void ReportErrors(const std::vector<Status>& errors);
  void Notify(const std::string& type, const std::string& title, const std::string& error,
              const std::string& job_id, const jobs::NotifySettings& settings,
              notify::Severity severity = notify::Severity::kError, bool fallback = false);
  Result<sys::LockFile> TryJobLock(const std::string& lock_path, std::chrono::milliseconds wait);
  void RunJob(const jobs::JobConfig& job, const std::string& state_path,
              const std::string& lock_path, int64_t start);
  // The job's run ended (or is gone) without recording its end; the caller
  // holds the job lock. `attempt`: when the scheduler started it.
  void RecordLostRun(const jobs::JobConfig& job, const std::string& state_path,
                     const std::string& why, std::optional<int64_t> attempt);
  void Save(const std::string& path, const jobs::JobState& state);

  const Context& ctx_;
  Renderer& out_;
  const int64_t warn_after_;
  std::set<std::string> reported_;  // config errors notified, as long as they persist
  // Per job (state key): what the scheduler wrote of its state (created,
  // last-start, last-skip), used beside the file should it not be writable
  // (else a job whose start cannot be saved would run again every minute).
  std::map<std::string, jobs::JobState> memory_;
  // Per job: the last-start of a run recorded as lost (recorded once, also
  // when the state cannot be written).
  std::map<std::string, int64_t> lost_;
  bool hup_pending_ = false;  // SIGHUP while a job ran
};

void Scheduler::Notify(const std::string& type, const std::string& title, const std::string& error,
                       const std::string& job_id, const jobs::NotifySettings& settings,
                       notify::Severity severity, bool fallback) {
  std::string host = jobs::ShortHostname();
  auto n = jobs::TaskNotification(type, false, title, error, {}, host, job_id, ::time(nullptr));
  n.severity = severity;
  jobs::SendNotification(ctx_.paths.config_dir, settings, n, &out_, fallback);
}

Result<sys::LockFile> Scheduler::TryJobLock(const std::string& lock_path,
                                            std::chrono::milliseconds wait) {
  return sys::LockFile::Acquire(lock_path, wait,
                                [this](const std::string& m) { out_.Log(LogLevel::kInfo, m); });
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
         jobs::NotifySettings(), notify::Severity::kError, /*fallback=*/true);
}

void Scheduler::Save(const std::string& path, const jobs::JobState& state) {
  Status s = jobs::SaveJobState(path, state);
  if (!s.ok()) out_.Log(LogLevel::kWarn, "cannot write the job state: " + s.message());
}

void Scheduler::RecordLostRun(const jobs::JobConfig& job, const std::string& state_path,
                              const std::string& why, std::optional<int64_t> attempt) {
  auto state = jobs::LoadJobState(state_path);
  jobs::JobState s = state.ok() ? *state : jobs::JobState();
  s.last_start = Later(s.last_start, attempt);
  s.last_end = Later(::time(nullptr), s.last_start);
  s.pid.reset();
  s.result = "error";
  s.message = why;
  Save(state_path, s);
  const std::string key = job.StateKey();
  if (s.last_start) {
    lost_[key] = *s.last_start;
    memory_[key].last_start = Later(memory_[key].last_start, s.last_start);
  }
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

void Scheduler::RunJob(const jobs::JobConfig& job, const std::string& state_path,
                       const std::string& lock_path, int64_t start) {
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
    auto lock = TryJobLock(lock_path, kJobLockWait);
    if (lock.ok())
      RecordLostRun(job, state_path, "cannot start the job: " + child.status().message(), start);
    else
      out_.Log(LogLevel::kErr,
               fmt::format("cannot start job '{}': {}", job.id, child.status().message()));
    return;
  }
  int forwarded_signals = sys::InterruptCount();
  bool sent_term = false;
  bool warned = false;
  for (;;) {
    auto done = child->WaitFor(std::chrono::milliseconds(0));
    if (!done.ok()) {
      // The job's process is left to itself; its lock tells whether it runs.
      out_.Log(LogLevel::kErr,
               fmt::format("cannot wait for job '{}': {}", job.id, done.status().message()));
      return;
    }
    if (*done) {
      int st = **done;
      int64_t secs = ::time(nullptr) - start;
      // The job's lock is free once its process is gone; a `job run` by hand
      // may have taken it since: then that run's state is not ours to judge.
      auto lock = TryJobLock(lock_path, kJobLockWait);
      if (!lock.ok()) {
        out_.Log(LogLevel::kWarn,
                 fmt::format("{} job '{}' ended ({}); its state is not checked: {}",
                             jobs::JobTypeName(job.type), job.id, sys::DescribeWaitStatus(st),
                             lock.status().message()));
        return;
      }
      auto state = jobs::LoadJobState(state_path);
      bool recorded = state.ok() && !jobs::StartedWithoutEnd(*state);
      if (recorded) {
        bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        out_.Log(ok ? LogLevel::kInfo : LogLevel::kErr,
                 fmt::format("{} job '{}' finished after {}: {}", jobs::JobTypeName(job.type),
                             job.id, jobs::FormatDuration(secs),
                             ok ? std::string("ok") : sys::DescribeWaitStatus(st)));
      } else {
        RecordLostRun(job, state_path,
                      fmt::format("the job's process {} without recording its end",
                                  sys::DescribeWaitStatus(st)),
                      start);
      }
      return;
    }
    // Also a signal that came before the child existed (after the tick's
    // last check): InterruptCount() did not change since, but it is set.
    if ((Interrupted() && !sent_term) || sys::InterruptCount() != forwarded_signals) {
      forwarded_signals = sys::InterruptCount();
      sent_term = true;
      out_.Log(LogLevel::kInfo,
               fmt::format("stopping: sending SIGTERM to job '{}' (pid {}) and waiting for it",
                           job.id, child->pid()));
      child->Kill(SIGTERM);
    }
    int64_t elapsed = ::time(nullptr) - start;
    if (!warned && elapsed >= warn_after_) {
      warned = true;
      std::string host = jobs::ShortHostname();
      std::string msg = fmt::format(
          "{} job '{}' (pid {}) has been running for {}; the scheduler runs no other job until it "
          "ends. It is not stopped: check it (ctdump job list), or stop it with SIGTERM to pid {}.",
          jobs::JobTypeName(job.type), job.id, child->pid(), jobs::FormatDuration(elapsed),
          child->pid());
      out_.Log(LogLevel::kWarn, msg);
      Notify("system",
             fmt::format("ctdump scheduler ({}): job '{}' running for {}", host, job.id,
                         jobs::FormatDuration(elapsed)),
             msg, job.id, jobs::NotifySettings(), notify::Severity::kWarning);
    }
    pollfd fds[3] = {
        {child->pidfd(), POLLIN, 0}, {sys::InterruptFd(), POLLIN, 0}, {g_hup_pipe[0], POLLIN, 0}};
    int64_t timeout_ms = child->pidfd() < 0 ? 200 : 60000;
    if (!warned) timeout_ms = std::clamp<int64_t>((warn_after_ - elapsed) * 1000, 200, timeout_ms);
    int r = ::poll(fds, 3, static_cast<int>(timeout_ms));
    if (r > 0 && (fds[2].revents & POLLIN) && TakeHup()) {
      hup_pending_ = true;
      out_.Log(LogLevel::kInfo, "SIGHUP: jobs.cfg is read again before the next job");
    }
    if (r > 0 && (fds[1].revents & POLLIN)) {
      char buf[64];
      while (::read(sys::InterruptFd(), buf, sizeof(buf)) > 0) {
      }
    }
  }
}

void Scheduler::Tick(bool startup) {
  // "Missed" is judged against the time the tick began: a job held up behind
  // another one of this tick was not missed during downtime.
  const int64_t tick_start = ::time(nullptr);
  std::optional<int64_t> startup_tick = startup ? std::optional<int64_t>(tick_start) : std::nullopt;
  for (bool first = true; Pass(startup_tick, first); first = false) {
  }
}

bool Scheduler::Pass(std::optional<int64_t> startup_tick, bool first) {
  auto cfg = jobs::LoadJobsConfig(ctx_.paths.config_dir);
  std::vector<Status> errors;
  if (!cfg.ok()) {
    errors.push_back(cfg.status());
  } else {
    errors = cfg->errors;
  }
  std::vector<std::string> notify_warnings;
  Status n = jobs::CheckNotifyConfig(ctx_.paths.config_dir, &notify_warnings);
  if (!n.ok()) errors.push_back(n);
  if (startup_tick && first)
    for (const std::string& w : notify_warnings) out_.Log(LogLevel::kWarn, w);
  ReportErrors(errors);
  if (!cfg.ok()) return false;
  for (const jobs::JobConfig& job : cfg->jobs) {
    if (Interrupted()) return false;
    const std::string key = job.StateKey();
    std::string path = jobs::JobStatePath(ctx_.paths.state_dir, key);
    std::string lock_path = jobs::JobLockPath(ctx_.paths.run_dir, key);
    // Held: the job runs (`job run` by hand); its state is its own.
    auto lock = TryJobLock(lock_path, std::chrono::milliseconds(0));
    if (!lock.ok()) {
      if (lock.status().code() != Code::kUnavailable)
        out_.Log(LogLevel::kWarn, fmt::format("{} job '{}': {}", jobs::JobTypeName(job.type),
                                              job.id, lock.status().message()));
      continue;
    }
    auto loaded = jobs::LoadJobState(path);
    jobs::JobState state;
    if (loaded.ok()) {
      state = *loaded;
    } else {
      out_.Log(LogLevel::kWarn, loaded.status().message() + " (starting a new state)");
    }
    int64_t now = ::time(nullptr);
    auto lost = lost_.find(key);
    if (jobs::StartedWithoutEnd(state) &&
        (lost == lost_.end() || lost->second != *state.last_start)) {
      RecordLostRun(
          job, path,
          state.pid
              ? fmt::format("the job's process {} is gone without recording its end", *state.pid)
              : std::string("the job's run is gone without recording its end"),
          std::nullopt);
      continue;
    }
    jobs::JobState& mem = memory_[key];
    bool clamped = jobs::ClampFutureTimes(&state, now);
    jobs::ClampFutureTimes(&mem, now);
    if (clamped)
      out_.Log(LogLevel::kWarn,
               fmt::format("{} job '{}': its state has times in the future (the clock was ahead "
                           "when they were written); they are set to now",
                           jobs::JobTypeName(job.type), job.id));
    if (!mem.created) mem.created = state.created.value_or(now);
    if (!state.created || clamped) {
      if (!state.created) state.created = mem.created;
      Save(path, state);
    }
    jobs::JobState merged = state;
    merged.created = Later(state.created, mem.created);
    merged.last_start = Later(state.last_start, mem.last_start);
    merged.last_skip = Later(state.last_skip, mem.last_skip);
    jobs::Due due = jobs::ComputeDue(job, merged, now, startup_tick);
    if (due.action == jobs::DueAction::kSkip) {
      state.last_skip = now;
      mem.last_skip = now;
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
    // The start is remembered here too: should the job be unable to record
    // it, the same occurrence is not due again at the next tick.
    mem.last_start = now;
    lock->Release();  // `job run` takes it
    RunJob(job, path, lock_path, now);
    if (hup_pending_) {
      hup_pending_ = false;
      return !Interrupted();
    }
  }
  return false;
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
  Scheduler scheduler(ctx, *out, args.warn_after);
  bool startup = true;
  for (;;) {
    scheduler.Tick(startup);
    startup = false;
    if (args.once || !scheduler.Sleep()) break;
  }
  const bool by_signal = Interrupted();
  out->Log(LogLevel::kInfo,
           by_signal ? "ctdump scheduler stopped by signal" : "ctdump scheduler finished (--once)");
  out->OnResult(true, kExitOk, {{"stopped-by", by_signal ? "signal" : "once"}});
  return kExitOk;
}

}  // namespace

void RegisterScheduler(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<SchedulerArgs>();
  auto* s = app.add_subcommand("scheduler",
                               "run the jobs of jobs.cfg on their schedules (a foreground daemon)");
  s->add_flag("--once", args->once, "one pass over the jobs (running the due ones), then exit");
  s->add_option("--warn-after", args->warn_after,
                "seconds after which a running job is reported (logged and notified once, type "
                "system; it is not stopped)")
      ->default_val(kLongRunSeconds)
      ->check(CLI::PositiveNumber);
  ctx.AddRunner(s, [&ctx, args] { return RunScheduler(ctx, *args); });
}

}  // namespace ctdump::cli
