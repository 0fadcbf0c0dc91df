// LXC containers, controlled through liblxc.
//
// A Container names one container under one lxcpath. Starting happens in the
// host's mount namespace even when ctdump has entered a private one for a job
// (see sys::EnterPrivateMountNamespace), so the container never inherits the
// job's snapshot mounts. Freezing writes the cgroup freezer state directly and
// polls it: lxc-freeze polls once a second, which would stretch a freeze window
// to a full second.
#ifndef CTDUMP_CONTAINER_CONTAINER_H_
#define CTDUMP_CONTAINER_CONTAINER_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "container/control.h"
#include "ctdump/status.h"

struct lxc_container;

namespace ctdump::container {

// What a command run inside a container did.
struct CommandResult {
  int exit_code = -1;  // the exit status; 128+N when killed by signal N
  std::string output;  // stdout and stderr, interleaved, bounded
  bool output_truncated = false;
};

class Container : public Control {
 public:
  // NotFound when no container `name` is defined under `lxcpath`.
  static Result<Container> Open(const std::string& name, const std::string& lxcpath);

  Container(Container&&) noexcept;
  Container& operator=(Container&&) noexcept;
  ~Container() override;

  const std::string& name() const override { return name_; }
  const std::string& lxcpath() const { return lxcpath_; }

  State GetState() const override;
  bool IsRunning() const override;
  pid_t InitPid() const;

  // Clean shutdown (SIGPWR to init) waiting up to `timeout`; a frozen
  // container is thawed first. Error "container '<name>' did not stop within
  // N s" on timeout (the container is left running, never killed).
  Status Shutdown(std::chrono::seconds timeout) override;
  // Starts the container daemonized and waits until it is RUNNING.
  Status Start(std::chrono::seconds timeout = kStartTimeout) override;
  // Freezes through the cgroup freezer and waits until every task is
  // frozen, thawing and retrying when the cgroup stays "freezing" (see the
  // .cc). `attempts`, if given, receives how many freezes it took.
  Status Freeze(int* attempts = nullptr) override;
  Status Thaw() override;

  // Stops the container hard (liblxc's stop: init and every task killed)
  // and waits until it is STOPPED. OK when it is not running.
  Status Stop(std::chrono::seconds timeout = std::chrono::seconds(30));
  // Runs `argv` inside the running container (all its namespaces and its
  // cgroup, as container root, a clean environment with a standard PATH,
  // stdin /dev/null) and waits up to `timeout`. stdout and stderr are
  // captured together, at most `max_output` bytes. Attaching happens in a
  // child in the host's mount namespace, as Start() does. On timeout
  // DeadlineExceeded (the command may still run inside: stop the
  // container); SIGINT/SIGTERM: Cancelled.
  Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                   std::chrono::seconds timeout, size_t max_output = 65536);
  // Waits until the container is RUNNING, its init has a pid that exists
  // and a command (/bin/true, else /bin/sh -c true) runs inside through
  // attach; retried until `timeout`.
  Status WaitForInit(std::chrono::seconds timeout);
  // liblxc's destroy of a stopped container: its root file system (dir
  // backend) and its directory under the lxcpath (the lock files stay: see
  // RemoveLxcLockFiles).
  Status Destroy();

 private:
  Container(std::string name, std::string lxcpath, lxc_container* c);
  Result<std::string> FreezerStatePath() const;

  std::string name_;
  std::string lxcpath_;
  lxc_container* c_ = nullptr;
};

// liblxc's containers.
Opener& LxcOpener();

// Removes the lock files liblxc keeps for container `name` of `lxcpath`
// (/run/lxc/lock/<lxcpath>/.<name>; liblxc never removes them): for a
// container that was destroyed and whose name is not reused (a restore
// test's). Missing files are fine.
void RemoveLxcLockFiles(const std::string& name, const std::string& lxcpath);

// Remembers the mount namespace ctdump started in; call once before entering
// a private one. Container::Start() uses it.
void RememberHostMountNamespace();

}  // namespace ctdump::container

#endif  // CTDUMP_CONTAINER_CONTAINER_H_
