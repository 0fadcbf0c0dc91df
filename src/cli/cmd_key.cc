// `ctdump key create <file>`: a new datastore encryption key (mode 0600).
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/key_store_commands.h"
#include "crypt/crypt.h"

namespace ctdump::cli {
namespace {

int RunKeyCreate(Renderer& out, const std::string& path) {
  auto key = crypt::Key::Generate();
  if (!key.ok()) return Fail(out, key.status());
  Status s = key->SaveFile(path);
  if (!s.ok()) return Fail(out, s);
  out.Log(LogLevel::kInfo,
          fmt::format("created encryption key \"{}\" (fingerprint {}); keep a copy somewhere "
                      "safe: backups made with it cannot be read without it",
                      path, crypt::FingerprintString(key->fingerprint())));
  return kExitOk;
}

}  // namespace

void RegisterKey(CLI::App& app, Context& ctx) {
  auto* key = app.add_subcommand("key", "manage datastore encryption keys");
  key->require_subcommand(1);
  auto path = std::make_shared<std::string>();
  auto* create = key->add_subcommand("create", "create a new encryption key file (mode 0600)");
  create->add_option("file", *path, "where to write the key")->required();
  ctx.AddRunner(create, [&ctx, path] {
    auto renderer = MakeRenderer(ctx);
    return RunKeyCreate(*renderer, *path);
  });
  RegisterKeyStoreCommands(*key, ctx);
}

}  // namespace ctdump::cli
