// The channel between ctdump and a worker, a process it spawned as the
// container's root in its user namespace (userns.h) that reads the tree: a
// built-in provider's archive or backup worker, suspend's copier.
//
// The worker writes its product (a tar stream, or the datastore's worker
// stream) to fd 1 and messages to fd 2 as lines: "I <text>", "W <text>",
// "P <bytes> <files> [<total-bytes> <total-files> <phase> [<current>]]"
// (progress; "-" for an unknown total or an empty phase) and
// "E <code> <message>" (its error, a
// status code of ctdump/status.h); in a message, "\n" and "\\" stand for a
// newline and a backslash, so a message is always one line. ctdump, as host
// root, takes fd 1's bytes and turns the lines into log lines and progress of
// its own observer; the worker never holds a writable descriptor of the store.
#ifndef CTDUMP_USERNS_WORKER_RELAY_H_
#define CTDUMP_USERNS_WORKER_RELAY_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "ctdump/observer.h"
#include "ctdump/status.h"
#include "sys/subprocess.h"

namespace ctdump::userns {

// The worker's side: an Observer writing the line protocol to `fd`.
class LineObserver : public Observer {
 public:
  explicit LineObserver(int fd) : fd_(fd) {}
  void Log(LogLevel level, std::string_view message) noexcept override;
  void OnProgress(const Progress& p) noexcept override;
  // "E <code> <message>", on one line.
  void SendError(const Status& s) noexcept;

 private:
  void Send(char kind, std::string_view message) noexcept;
  void Write(const std::string& line) noexcept;
  int fd_;
};

// A line as sent, with "\n" and "\\" turned back into a newline and a
// backslash (for a worker whose lines arrive on its stdout, suspend's copier).
std::string DecodeLine(std::string_view line);

// The text of a "P" line (after "P "), before line encoding, and back.
// Parsing accepts the short form "<bytes> <files>"; nullopt for anything
// else.
std::string FormatProgress(const Progress& p);
std::optional<Progress> ParseProgress(std::string_view text);

// ctdump's side: until the worker closes both pipes, hands the bytes of its
// stdout to `on_data` and its messages to `observer`, then waits for it. An
// error of `on_data` or an interrupt (sys/signals.h) kills the worker's
// process group and is returned; otherwise a failed worker's own "E" report
// (or its exit status) is. `what` names the worker in messages.
Status RelayWorker(sys::Subprocess& worker, const std::string& what, Observer* observer,
                   const std::function<Status(const char* data, size_t size)>& on_data);

}  // namespace ctdump::userns

#endif  // CTDUMP_USERNS_WORKER_RELAY_H_
