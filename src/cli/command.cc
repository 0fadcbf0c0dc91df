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
  out.Error(s.message(), kExitFailed);
  return kExitFailed;
}

int UsageError(Renderer& out, const Status& s) {
  out.Error(s.message(), kExitUsage);
  return kExitUsage;
}

int FailOrUsage(Renderer& out, const Status& s) {
  int code = ExitCodeOf(s);
  out.Error(s.message(), code);
  return code;
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
  if (c.json()) return MakeJsonRenderer(c.command);
  return MakeTextRenderer(::isatty(2));
}

std::string CommandWords(const CLI::App& app) {
  std::string words;
  for (const CLI::App* a = &app;;) {
    auto subs = a->get_subcommands();
    if (subs.empty()) return words;
    a = subs.front();
    words += (words.empty() ? "" : " ") + a->get_name();
  }
}

Result<std::pair<std::string, std::string>> SplitVolumeId(const std::string& volid) {
  ASSIGN_OR_RETURN(provider::VolumeId id, provider::ParseVolumeId(volid));
  return std::pair{std::move(id.storage), std::move(id.volname)};
}

}  // namespace ctdump::cli
