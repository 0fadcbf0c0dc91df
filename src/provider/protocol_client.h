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
#include <string>

#include <nlohmann/json.hpp>

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
  // an error Status whose message is the provider's message.
  Result<nlohmann::json> Call(const std::string& method, nlohmann::json params,
                              std::chrono::seconds timeout);

  // Sends `shutdown` (if the process is still usable), closes stdin and waits
  // up to 10 s for exit, then kills. Idempotent.
  Status Shutdown(std::chrono::seconds timeout);
  // Closes stdin, waits briefly, kills. Idempotent.
  void Abort();

  bool alive() const { return process_.running() && !broken_; }
  const std::string& label() const { return label_; }

 private:
  enum class LineKind { kStdout, kStderr };
  Status HandleStdoutLine(const std::string& line, int64_t id, std::optional<nlohmann::json>* response);
  void HandleNotification(const nlohmann::json& msg);
  Status ExitedError(const std::string& method);
  Status Fail(Status s);

  std::string label_;
  sys::Subprocess process_;
  Observer* observer_;
  int64_t next_id_ = 1;
  bool broken_ = false;
  std::string out_buf_, err_buf_;
};

}  // namespace ctdump::provider

#endif  // CTDUMP_PROVIDER_PROTOCOL_CLIENT_H_
