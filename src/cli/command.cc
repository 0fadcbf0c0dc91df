#include "cli/command.h"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "provider/volume_id.h"

namespace ctdump::cli {

int ExitCodeOf(const Status& s) {
  return s.code() == Code::kInvalidArgument ? kExitUsage : kExitFailed;
}

int Fail(Renderer& out, const Status& s) {
  out.Log(LogLevel::kErr, s.message());
  return kExitFailed;
}

void Context::AddRunner(const CLI::App* sub, std::function<int()> run) {
  runners_.emplace_back(sub, std::move(run));
}

const std::function<int()>* Context::Selected() const {
  for (const auto& [sub, run] : runners_)
    if (*sub) return &run;
  return nullptr;
}

std::unique_ptr<Renderer> MakeRenderer(const Context& c) {
  if (c.json()) return MakeJsonRenderer();
  return MakeTextRenderer(::isatty(2));
}

Result<std::pair<std::string, std::string>> SplitVolumeId(const std::string& volid) {
  ASSIGN_OR_RETURN(provider::VolumeId id, provider::ParseVolumeId(volid));
  return std::pair{std::move(id.storage), std::move(id.volname)};
}

}  // namespace ctdump::cli
