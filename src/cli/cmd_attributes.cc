// `ctdump protect <storage>:<volname> 0|1` and `ctdump notes
// <storage>:<volname> [--set TEXT]`: a backup's attributes after the fact,
// through Provider::UpdateAttribute (external providers: the protocol's
// update_attribute), as PVE's `pvesh set .../content/<volid> --protected
// --notes`. Protecting checks the storage's max-protected-backups.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <optional>

#include "backup/attributes.h"
#include "cli/commands.h"

namespace ctdump::cli {
namespace {

struct AttributeArgs {
  std::string volid;
  std::string value;               // protect: 0|1
  std::optional<std::string> set;  // notes --set
};

// Runs `work` on the opened target, then shuts the provider down; logs the
// first error.
int WithTarget(const Context& ctx, const std::string& volid, Renderer& out,
               const std::function<Status(backup::AttributeTarget&)>& work) {
  auto parts = SplitVolumeId(volid);
  if (!parts.ok()) return UsageError(out, parts.status());
  auto t = backup::OpenAttributeTarget(ctx.paths.config_dir, parts->first, parts->second, &out);
  Status s = t.status();
  if (t.ok()) s = work(**t);
  if (t.ok()) {
    Status sh = (*t)->provider->Shutdown();
    if (s.ok()) s = sh;
  }
  if (!s.ok()) return Fail(out, s);
  return kExitOk;
}

int RunProtect(const Context& ctx, const AttributeArgs& a) {
  auto renderer = MakeRenderer(ctx);
  auto on = backup::ParseProtectValue(a.value);
  if (!on.ok()) return UsageError(*renderer, on.status());
  return WithTarget(ctx, a.volid, *renderer, [&](backup::AttributeTarget& t) -> Status {
    if (*on) RETURN_IF_ERROR(backup::CheckMayProtect(t));
    RETURN_IF_ERROR(t.provider->UpdateAttribute(t.volname, "protected", *on));
    renderer->OnResult(true, kExitOk, {{"volid", a.volid}, {"protected", *on}});
    if (!ctx.json())
      renderer->Log(LogLevel::kInfo,
                    fmt::format("backup '{}' is {}", a.volid, *on ? "protected" : "not protected"));
    return Status::OK();
  });
}

int RunNotes(const Context& ctx, const AttributeArgs& a) {
  auto renderer = MakeRenderer(ctx);
  return WithTarget(ctx, a.volid, *renderer, [&](backup::AttributeTarget& t) -> Status {
    std::optional<std::string> notes;
    if (a.set) {
      RETURN_IF_ERROR(t.provider->UpdateAttribute(t.volname, "notes", *a.set));
      if (!a.set->empty()) notes = *a.set;
    } else if (!t.provider->external()) {
      ASSIGN_OR_RETURN(notes, t.provider->ReadNotes(t.volname));  // built-in: the whole text
    } else {
      if (!t.entry)
        return FailedPreconditionError(fmt::format(
            "storage '{}' cannot show notes: its provider does not implement list_backups",
            t.storage));
      // What its list_backups reports: the protocol has no other way to read them.
      notes = t.entry->notes;
    }
    renderer->OnResult(
        true, kExitOk,
        {{"volid", a.volid}, {"notes", notes ? nlohmann::json(*notes) : nlohmann::json()}});
    if (ctx.json()) return Status::OK();
    if (a.set)
      renderer->Log(LogLevel::kInfo,
                    fmt::format("notes of backup '{}' {}", a.volid, notes ? "set" : "removed"));
    else if (notes)
      fmt::print("{}\n", *notes);
    return Status::OK();
  });
}

}  // namespace

void RegisterProtect(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<AttributeArgs>();
  auto* p =
      app.add_subcommand("protect", "protect a backup from deletion and pruning (1) or not (0)");
  p->add_option("volume", a->volid, "<storage>:<volname>")->required();
  p->add_option("value", a->value, "1: protected, 0: not")->required();
  ctx.AddRunner(p, [&ctx, a] { return RunProtect(ctx, *a); });
}

void RegisterNotes(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<AttributeArgs>();
  auto* n = app.add_subcommand("notes", "show a backup's notes, or set them with --set");
  n->add_option("volume", a->volid, "<storage>:<volname>")->required();
  n->add_option("--set", a->set, "the new notes ('' removes them)");
  ctx.AddRunner(n, [&ctx, a] { return RunNotes(ctx, *a); });
}

}  // namespace ctdump::cli
