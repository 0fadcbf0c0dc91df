// The fault shim, `ctdump __provider-fault` (docs/design/third-party-providers.md
// §8.4): a stand-in for a provider's executable that starts the real one and
// relays protocol v1 (docs/provider-protocol.md §1) line by line in both
// directions, faking a crash, a hang or garbage when ctdump sends a named
// method. So the conformance kit fails any provider without test hooks in it.
//
//   ctdump ── request ──> shim ── request ──> provider
//          <── line ───────  <── line ─────
//
// Per named request:
//   crash    the request is not forwarded; the provider's process group is
//            killed (SIGKILL) and the shim exits with status 3 at once.
//   hang     the request is forwarded; from then on nothing reaches ctdump
//            (the provider's output is read and dropped) and ctdump's
//            further input is read and dropped, until the shim is killed.
//   garbage  the request is forwarded; its response is replaced by the line
//            `this is not JSON` (notifications before it are relayed).
//
// Processes: the provider runs in the shim's process group when the shim
// leads one (it does when ctdump starts it in a session of its own), so
// ctdump's kill of the instance's group reaches the provider and its
// children as without the shim; otherwise in a group of its own. The
// provider's stderr is the shim's. The shim ends when ctdump closes its
// stdin and the provider has exited, with the provider's status (128 + the
// signal when it was killed); a hanging shim ends only by a signal, or
// kHangLimit after its stdin closed (a kill that never came).
#ifndef CTDUMP_PROVIDERTEST_FAULT_SHIM_H_
#define CTDUMP_PROVIDERTEST_FAULT_SHIM_H_

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace ctdump::providertest {

enum class Fault { kNone, kCrash, kHang, kGarbage };

inline constexpr int kCrashExitCode = 3;
inline constexpr char kGarbageLine[] = "this is not JSON";
inline constexpr std::chrono::seconds kHangLimit{300};

struct FaultShimOptions {
  std::vector<std::string> crash, hang, garbage;  // method names; default none
  // When set, every request received from ctdump (faulted ones too, before
  // the fault) is appended as one line "<method> <params-json>" ("null"
  // without params). Opened for appending; it need not be readable to the
  // shim (a worker instance runs as the container's root). Default: none.
  std::string record;
  // When set, a fault fires only if this file is empty, and fills it with
  // the method (under flock), so across the instances of one configuration
  // (main, worker, a new main instance) the first named request faults and
  // later ones are relayed. Created if missing. Default: every time.
  std::string once;
  std::vector<std::string> command;  // the real provider and its arguments
};

// The fault for `method`; crash wins over hang over garbage.
Fault FaultFor(const FaultShimOptions& options, std::string_view method);

// The record line of a request: "<method> <params-json>".
std::string RecordLine(std::string_view method, const std::string& params_json);

// Runs the relay on stdin/stdout; returns the process's exit status (a crash
// exits inside). Errors starting the provider are reported on stderr and
// return 127.
int RunFaultShim(const FaultShimOptions& options);

}  // namespace ctdump::providertest

#endif  // CTDUMP_PROVIDERTEST_FAULT_SHIM_H_
