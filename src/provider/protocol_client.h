// The ctdump side of provider protocol v1 (docs/provider-protocol.md):
// newline-delimited JSON-RPC 2.0 over a child's stdin/stdout.
//
//   ctdump                                   provider
//     {"jsonrpc":"2.0","id":1,"method":"hello","params":{...}}  ->
//                                <- {"jsonrpc":"2.0","method":"log","params":{...}}   (any number)
//                                <- {"jsonrpc":"2.0","id":1,"result":{...}}
//     ... one request at a time, answered in order ...
//     {"jsonrpc":"2.0","id":N,"method":"shutdown"} -> result null; stdin closed; exit 0
//
// Notifications (`log`, `progress`) go to the Observer; stderr lines are
// logged as "provider: <line>". A provider that exits, does not answer within
// the call's timeout, or writes a line that is not a valid message fails the
// call with an error naming the provider and is killed. SIGINT/SIGTERM to
// ctdump fail the call with Cancelled.
#ifndef CTDUMP_PROVIDER_PROTOCOL_CLIENT_H_
#define CTDUMP_PROVIDER_PROTOCOL_CLIENT_H_

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "ctdump/observer.h"
#include "ctdump/status.h"
#include "sys/subprocess.h"

namespace ctdump::provider {

inline constexpr int kProtocolVersion = 1;

class ProtocolClient {
 public:
  // `label` names the provider in errors: "provider 'store1' (/usr/bin/x)".
  ProtocolClient(std::string label, sys::Subprocess process, Observer* observer);
  ~ProtocolClient();

  // Sends one request and waits for its response. An error response becomes
  // an error Status whose message is the provider's message. The first
  // SIGINT/SIGTERM during a call abandons it (Cancelled) but keeps the
  // process, so cleanup calls still reach it; its late response is skipped.
  // A later signal during a call kills the process.
  Result<nlohmann::json> Call(const std::string& method, const nlohmann::json& params,
                              std::chrono::seconds timeout);

  // Sends `shutdown` (if the process is still usable), closes stdin and waits
  // up to 10 s for exit (still reading its output), then kills. Idempotent.
  Status Shutdown(std::chrono::seconds timeout);
  // Closes stdin, waits briefly, kills. Idempotent.
  void Abort();

  // Where log/progress notifications and stderr lines go from now on.
  void set_observer(Observer* observer) { observer_ = observer; }
  bool alive() const { return process_.running() && !broken_; }
  const std::string& label() const { return label_; }

 private:
  // Reads what is available on stdout/stderr; stdout lines are handled as
  // messages for request `id` (0: none expected). Sets *eof when stdout closed.
  Status ReadAvailable(int64_t id, std::optional<nlohmann::json>* response, bool* eof);
  Status HandleStdoutLine(const std::string& line, int64_t id,
                          std::optional<nlohmann::json>* response);
  void HandleNotification(const nlohmann::json& msg);
  void LogStderrLine(std::string line);
  // Waits for exit up to `timeout`, reading output meanwhile.
  std::optional<int> DrainUntilExit(std::chrono::milliseconds timeout);
  Status ExitedError(const std::string& method);
  Status Fail(Status s);

  std::string label_;
  sys::Subprocess process_;
  // The instance's process group (its pid when it leads one, else -1): what
  // is left of it is killed once the instance has exited, so a provider's
  // children (a tool it ran) never outlive it.
  pid_t group_ = -1;
  Observer* observer_;
  int64_t next_id_ = 1;
  int64_t abandoned_id_ = 0;  // a request given up on whose response is still due
  bool broken_ = false;
  std::string out_buf_, err_buf_;
};

}  // namespace ctdump::provider

#endif  // CTDUMP_PROVIDER_PROTOCOL_CLIENT_H_
