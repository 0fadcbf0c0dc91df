// How the CLI shows a command: vzdump-style log lines on stderr ("INFO: ..."),
// a progress bar when stderr is a terminal, periodic progress lines when it
// is not, or JSON events on stdout (--output-format json), one object per
// line, every one with "v" (the schema version) and "event"; the events and
// their fields are docs/json-events.md (schema: docs/json-events.schema.json):
//   {"v":1,"event":"log","time":1764136800,"level":"info","message":"..."}
//   {"v":1,"event":"progress","vmid":"c1","phase":"backup","bytes":N,...}
//   {"v":1,"event":"job-end","ok":true,"exit":0,"guests":[...]}
//   {"v":1,"event":"result","command":"list","ok":true,"exit":0,"data":[...]}
//   {"v":1,"event":"error","command":"list","message":"...","exit":1}
#ifndef CTDUMP_CLI_RENDERER_H_
#define CTDUMP_CLI_RENDERER_H_

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "backup/job.h"
#include "ctdump/observer.h"
#include "ctdump/units.h"

namespace ctdump::cli {

// The version of the JSON event stream ("v" of every event).
inline constexpr int kJsonEventsVersion = 1;

class Renderer : public Observer {
 public:
  virtual void JobEnd(const backup::JobResult& result) = 0;
  // vzdump's quiet: the text renderer shows only warnings and errors (no
  // progress, no summary table); JSON events are unchanged.
  virtual void SetQuiet(bool quiet) {}
  // The error that ends the command (or, under `job run`, one of its steps),
  // with the exit code it causes (command.h). Text: an "ERROR: " line;
  // JSON: an `error` event.
  virtual void Error(std::string_view message, int exit_code) noexcept {
    Log(LogLevel::kErr, message);
  }
  // The command's result. JSON: a `result` event carrying `data`; text:
  // nothing (the command prints its own table or lines).
  virtual void OnResult(bool ok, int exit_code, const nlohmann::json& data) {}
};

std::unique_ptr<Renderer> MakeTextRenderer(bool terminal);
// `command`: the subcommand's words ("list", "job run"), the "command" field
// of result and error events; empty before one is known.
std::unique_ptr<Renderer> MakeJsonRenderer(std::string command = "");

// One event as the JSON renderer writes it ("v", "time" added), for errors
// found before any renderer exists (command-line parse errors).
void PrintJsonEvent(nlohmann::json event);

}  // namespace ctdump::cli

#endif  // CTDUMP_CLI_RENDERER_H_
