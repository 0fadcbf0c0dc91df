// `ctdump key rotate` and `key import-with-master-key` (key_store_commands.h).
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <memory>

#include "cli/datastore_storage.h"
#include "cli/key_store_commands.h"
#include "crypt/crypt.h"
#include "crypt/master_key.h"
#include "crypt/passphrase.h"
#include "registry/registry.h"

namespace ctdump::cli {
namespace {

// Test hook: CTDUMP_TEST_KEY_ROTATE_PAUSE=<step> ("key-written",
// "config-written") stops `key rotate` after that step until it is killed,
// so that a test can SIGKILL it there.
constexpr char kRotatePauseEnv[] = "CTDUMP_TEST_KEY_ROTATE_PAUSE";

struct RotateArgs {
  std::string storage;
  std::string new_key;
  std::string kdf = "scrypt";
};

int RunRotate(const Context& ctx, Renderer& out, const RotateArgs& a) {
  auto config = registry::LoadStorageConfig(ctx.paths.config_dir);
  if (!config.ok()) return Fail(out, config.status());
  auto section = registry::FindStorage(*config, a.storage);
  if (!section.ok()) return Fail(out, section.status());
  if ((*section)->type != "datastore")
    return Fail(out, InvalidArgumentError(fmt::format(
                         "storage '{}' is of type '{}', not a datastore: only a datastore has "
                         "encryption keys",
                         a.storage, (*section)->type)));
  std::optional<std::string> current;
  if (auto k = (*section)->Get("encryption-key")) current = *k;
  KeyRotation r;
  r.storage = a.storage;
  r.kdf = a.kdf == "none" ? crypt::Kdf::kNone : crypt::Kdf::kScrypt;
  if (!a.new_key.empty()) {
    r.new_key = a.new_key;
  } else if (current) {
    r.new_key = DefaultRotatedKeyPath(*current, static_cast<int64_t>(std::time(nullptr)));
  } else {
    return Fail(out, InvalidArgumentError(fmt::format(
                         "storage '{}' has no encryption-key yet: name the new key file with "
                         "--new-key PATH",
                         a.storage)));
  }
  std::optional<crypt::KeyFileInfo> old_info;
  if (current) {
    auto info = crypt::Key::ReadFileInfo(*current);
    if (!info.ok())
      out.Log(LogLevel::kWarn,
              fmt::format("the current key \"{}\" cannot be read ({}): backups made with it stay "
                          "unreadable until it is back at that path",
                          *current, info.status().message()));
    else
      old_info = *info;
  }
  if (r.kdf == crypt::Kdf::kScrypt) {
    auto pass = crypt::ReadPassphrase(fmt::format("Passphrase for the new key {}: ", r.new_key),
                                      /*confirm=*/true);
    if (!pass.ok()) return Fail(out, pass.status());
    r.passphrase = std::move(*pass);
  }
  const char* pause_at = std::getenv(kRotatePauseEnv);
  r.after_step = [pause_at](std::string_view step) {
    if (!pause_at || step != pause_at) return;
    std::cerr << "ctdump: paused after " << step << " (" << kRotatePauseEnv << ")" << std::endl;
    for (;;) ::pause();
  };
  auto fp = RotateStorageKey(ctx.paths.config_dir, r);
  crypt::WipeString(r.passphrase);
  if (!fp.ok()) return Fail(out, fp.status());
  const std::string fps = crypt::FingerprintString(*fp);
  if (r.kdf == crypt::Kdf::kNone)
    out.Log(LogLevel::kWarn,
            fmt::format("the new key \"{}\" is stored in clear (--kdf none): protect it like an "
                        "SSH private key",
                        r.new_key));
  out.Log(LogLevel::kInfo,
          fmt::format("storage '{}': new backups are encrypted with key {} (\"{}\"){}; the first "
                      "backup of each container with it is a full one. Keep a copy of the new "
                      "key (ctdump key paperkey {})",
                      a.storage, fps, r.new_key,
                      current ? fmt::format("; the old key \"{}\" stays in encryption-key-old "
                                            "to read the older backups",
                                            *current)
                              : "",
                      r.new_key));
  nlohmann::json result = {{"storage", a.storage},
                           {"new-key", r.new_key},
                           {"fingerprint", fps},
                           {"old-key", current ? nlohmann::json(*current) : nlohmann::json()}};
  if (old_info) result["old-fingerprint"] = crypt::FingerprintString(old_info->fingerprint);
  out.OnResult(true, kExitOk, result);
  return kExitOk;
}

struct ImportArgs {
  std::string volume;
  std::string master_key;
  std::string path;
  std::string kdf = "scrypt";
};

Result<crypt::Key> RecoverKey(const Context& ctx, const ImportArgs& a) {
  ASSIGN_OR_RETURN(DatastoreVolume v, OpenDatastoreVolume(ctx, a.volume));
  // The backup first: no passphrase is asked for a backup without a wrapped key.
  ASSIGN_OR_RETURN(datastore::Manifest m, v.ds->ReadManifestPublic(v.volname));
  RETURN_IF_ERROR(CheckWrappedKey(m, a.volume));
  ASSIGN_OR_RETURN(crypt::MasterPrivateKey master, crypt::MasterPrivateKey::LoadPem(a.master_key));
  return RecoverKeyWithMasterKey(m, a.volume, master, a.master_key);
}

int RunImport(const Context& ctx, Renderer& out, const ImportArgs& a) {
  if (::access(a.path.c_str(), F_OK) == 0)
    return Fail(out,
                AlreadyExistsError(fmt::format("Refusing to overwrite \"{}\": it exists", a.path)));
  auto key = RecoverKey(ctx, a);
  if (!key.ok()) return Fail(out, key.status());
  const crypt::Kdf kdf = a.kdf == "none" ? crypt::Kdf::kNone : crypt::Kdf::kScrypt;
  std::string pass;
  if (kdf == crypt::Kdf::kScrypt) {
    auto p = crypt::ReadNewPassphrase(fmt::format("New passphrase for {}: ", a.path), true);
    if (!p.ok()) return Fail(out, p.status());
    pass = std::move(*p);
  }
  Status s = key->SaveFile(a.path, kdf, pass);
  crypt::WipeString(pass);
  if (!s.ok()) return Fail(out, s);
  const std::string fp = crypt::FingerprintString(key->fingerprint());
  if (kdf == crypt::Kdf::kNone)
    out.Log(LogLevel::kWarn,
            fmt::format("the key in \"{}\" is stored in clear (--kdf none)", a.path));
  out.Log(LogLevel::kInfo,
          fmt::format("recovered key {} from backup '{}' with the master key; written to \"{}\"",
                      fp, a.volume, a.path));
  out.OnResult(true, kExitOk, {{"path", a.path}, {"fingerprint", fp}, {"volume", a.volume}});
  return kExitOk;
}

}  // namespace

void RegisterKeyStoreCommands(CLI::App& key, Context& ctx) {
  auto i = std::make_shared<ImportArgs>();
  auto* import = key.add_subcommand(
      "import-with-master-key",
      "recover the key of an encrypted backup with the RSA master private key (the storage had "
      "master-pubkey when the backup was made) and write it as a key file");
  import->add_option("volume", i->volume, "<storage>:<volume> of a backup made with the key")
      ->required();
  import->add_option("--master-key", i->master_key, "the master private key (PEM)")->required();
  import->add_option("file", i->path, "the key file to write (mode 0600)")->required();
  import
      ->add_option("--kdf", i->kdf,
                   "scrypt (default): a passphrase protects the key file; none: stored in clear")
      ->check(CLI::IsMember({"scrypt", "none"}));
  ctx.AddRunner(import, [&ctx, i] {
    auto renderer = MakeRenderer(ctx);
    return RunImport(ctx, *renderer, *i);
  });

  auto a = std::make_shared<RotateArgs>();
  auto* rotate = key.add_subcommand(
      "rotate",
      "give a datastore storage a new key for new backups; the old key stays (read only) in "
      "storage.cfg's encryption-key-old");
  rotate->add_option("storage", a->storage, "the datastore storage")->required();
  rotate->add_option("--new-key", a->new_key,
                     "where to write the new key file (default: beside the current key, with "
                     "the time in its name)");
  rotate
      ->add_option("--kdf", a->kdf,
                   "scrypt (default): a passphrase protects the new key; none: stored in clear")
      ->check(CLI::IsMember({"scrypt", "none"}));
  ctx.AddRunner(rotate, [&ctx, a] {
    auto renderer = MakeRenderer(ctx);
    return RunRotate(ctx, *renderer, *a);
  });
}

}  // namespace ctdump::cli
