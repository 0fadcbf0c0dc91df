// How the CLI shows a job: vzdump-style log lines on stderr ("INFO: ..."),
// a progress bar when stderr is a terminal, periodic progress lines when it
// is not, or JSON events on stdout (--output-format json), one per line:
//   {"event":"log","time":1764136800,"level":"info","message":"..."}
//   {"event":"progress","time":...,"bytes":N,"files":N,"total-bytes":N|null}
//   {"event":"job-end","ok":true,"guests":[{"vmid":"c1","ok":true,...}]}
#ifndef CTDUMP_CLI_RENDERER_H_
#define CTDUMP_CLI_RENDERER_H_

#include <chrono>
#include <memory>

#include "backup/job.h"
#include "ctdump/observer.h"
#include "ctdump/units.h"

namespace ctdump::cli {

class Renderer : public Observer {
 public:
  virtual void JobEnd(const backup::JobResult& result) = 0;
  // vzdump's quiet: the text renderer shows only warnings and errors (no
  // progress, no summary table); JSON events are unchanged.
  virtual void SetQuiet(bool quiet) {}
};

std::unique_ptr<Renderer> MakeTextRenderer(bool terminal);
std::unique_ptr<Renderer> MakeJsonRenderer();

}  // namespace ctdump::cli

#endif  // CTDUMP_CLI_RENDERER_H_
