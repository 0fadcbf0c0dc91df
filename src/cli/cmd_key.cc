// `ctdump key ...`: the commands on key files (PBS's `proxmox-backup-client
// key ...`): create, change-passphrase, show, paperkey, import (of a paper
// key), create-master-key, show-master-pubkey. Passphrases come from
// crypt/passphrase.h (CTDUMP_KEY_PASSPHRASE_FD / _FILE, else the terminal).
// The storage-side subcommands (rotate, import-with-master-key) register
// from cmd_key_store.cc.
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/key_store_commands.h"
#include "crypt/crypt.h"
#include "crypt/key_format.h"
#include "crypt/master_key.h"
#include "crypt/paper_key.h"
#include "crypt/passphrase.h"
#include "crypt/secret_file.h"
#include "sys/file.h"

namespace ctdump::cli {
namespace {

using nlohmann::json;

struct KeyArgs {
  std::string path;
  std::string kdf = "scrypt";
  std::string paper_format = "text";
  std::string paper_in;
  std::string dir = ".";
};

crypt::Kdf KdfOf(const std::string& name) {
  return name == "none" ? crypt::Kdf::kNone : crypt::Kdf::kScrypt;
}

Status MustNotExist(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0)
    return AlreadyExistsError(fmt::format("Refusing to overwrite \"{}\": it exists", path));
  return Status::OK();
}

json InfoJson(const std::string& path, const crypt::KeyFileInfo& info) {
  return {{"path", path},
          {"fingerprint", crypt::FingerprintString(info.fingerprint)},
          {"created", info.created},
          {"modified", info.modified},
          {"kdf", crypt::KdfName(info.kdf)},
          {"version", info.version}};
}

// The new passphrase for `kdf` (empty for "none"), from `read`.
template <typename ReadFn>
Result<std::string> NewPassphrase(crypt::Kdf kdf, const std::string& path, ReadFn read) {
  if (kdf == crypt::Kdf::kNone) return std::string();
  return read(fmt::format("New passphrase for {}: ", path), /*confirm=*/true);
}

void WarnClear(Renderer& out, const std::string& path) {
  out.Log(LogLevel::kWarn,
          fmt::format("the key in \"{}\" is stored in clear (--kdf none): anyone who can read "
                      "the file can read the backups; protect it like an SSH private key (for "
                      "unattended use of a passphrase-protected key, set {} or {})",
                      path, crypt::kPassphraseFileEnv, crypt::kPassphraseFdEnv));
}

int RunCreate(Renderer& out, const KeyArgs& a) {
  crypt::Kdf kdf = KdfOf(a.kdf);
  if (Status s = MustNotExist(a.path); !s.ok()) return Fail(out, s);
  auto key = crypt::Key::Generate();
  if (!key.ok()) return Fail(out, key.status());
  auto pass = NewPassphrase(kdf, a.path, crypt::ReadPassphrase);
  if (!pass.ok()) return Fail(out, pass.status());
  Status s = key->SaveFile(a.path, kdf, *pass);
  crypt::WipeString(*pass);
  if (!s.ok()) return Fail(out, s);
  if (kdf == crypt::Kdf::kNone) WarnClear(out, a.path);
  out.Log(LogLevel::kInfo,
          fmt::format("created encryption key \"{}\" (fingerprint {}, kdf {}); keep a copy "
                      "somewhere safe (ctdump key paperkey): backups made with it cannot be read "
                      "without it",
                      a.path, crypt::FingerprintString(key->fingerprint()), a.kdf));
  auto info = crypt::Key::ReadFileInfo(a.path);
  if (!info.ok()) return Fail(out, info.status());
  out.OnResult(true, kExitOk, InfoJson(a.path, *info));
  return kExitOk;
}

// The key of `path`, asking its passphrase as "Current passphrase".
Result<crypt::Key> LoadAsking(const std::string& path, const crypt::KeyFileInfo& info) {
  if (info.kdf == crypt::Kdf::kNone) return crypt::Key::LoadFile(path, {});
  ASSIGN_OR_RETURN(std::string old,
                   crypt::ReadPassphrase(fmt::format("Current passphrase for {}: ", path), false));
  Result<crypt::Key> key = crypt::Key::LoadFile(path, old);
  crypt::WipeString(old);
  return key;
}

int RunChangePassphrase(Renderer& out, const KeyArgs& a) {
  crypt::Kdf kdf = KdfOf(a.kdf);
  auto info = crypt::Key::ReadFileInfo(a.path);
  if (!info.ok()) return Fail(out, info.status());
  auto key = LoadAsking(a.path, *info);
  if (!key.ok()) return Fail(out, key.status());
  auto pass = NewPassphrase(kdf, a.path, crypt::ReadNewPassphrase);
  if (!pass.ok()) return Fail(out, pass.status());
  Status s = key->ReplaceFile(a.path, kdf, *pass, info->created);
  crypt::WipeString(*pass);
  if (!s.ok()) return Fail(out, s);
  if (kdf == crypt::Kdf::kNone) WarnClear(out, a.path);
  out.Log(LogLevel::kInfo,
          fmt::format("changed the protection of key \"{}\" (fingerprint {}, kdf {})", a.path,
                      crypt::FingerprintString(key->fingerprint()), a.kdf));
  auto now = crypt::Key::ReadFileInfo(a.path);
  if (!now.ok()) return Fail(out, now.status());
  out.OnResult(true, kExitOk, InfoJson(a.path, *now));
  return kExitOk;
}

int RunShow(const Context& ctx, Renderer& out, const KeyArgs& a) {
  auto info = crypt::Key::ReadFileInfo(a.path);
  if (!info.ok()) return Fail(out, info.status());
  if (!ctx.json()) {
    fmt::print("path:        {}\n", a.path);
    fmt::print("fingerprint: {}\n", crypt::FingerprintString(info->fingerprint));
    fmt::print("created:     {}\n", crypt::Rfc3339Utc(info->created));
    fmt::print("modified:    {}\n", crypt::Rfc3339Utc(info->modified));
    fmt::print("kdf:         {}{}\n", crypt::KdfName(info->kdf),
               info->kdf == crypt::Kdf::kNone ? " (the key is stored in clear)" : "");
    fmt::print("version:     {}\n", info->version);
  }
  out.OnResult(true, kExitOk, InfoJson(a.path, *info));
  return kExitOk;
}

int RunPaperkey(const Context& ctx, Renderer& out, const KeyArgs& a) {
  auto text = sys::ReadRegularFile(a.path, crypt::kKeyFileMaxSize);
  if (!text.ok()) return Fail(out, text.status());
  bool html = a.paper_format == "html";
  auto paper = crypt::FormatPaperKey(*text, a.path,
                                     html ? crypt::PaperFormat::kHtml : crypt::PaperFormat::kText);
  crypt::WipeString(*text);
  if (!paper.ok()) return Fail(out, paper.status());
  if (ctx.json() || a.paper_format == "json") {
    auto info = crypt::Key::ReadFileInfo(a.path);
    if (!info.ok()) return Fail(out, info.status());
    json data = InfoJson(a.path, *info);
    data["paperkey"] = *paper;
    out.OnResult(true, kExitOk, data);
  } else {
    std::fwrite(paper->data(), 1, paper->size(), stdout);
    std::fflush(stdout);
  }
  crypt::WipeString(*paper);
  return kExitOk;
}

Result<std::string> ReadPaper(const std::string& in) {
  if (in != "-") return sys::ReadRegularFile(in, crypt::kPaperKeyMaxSize);
  std::string text(std::istreambuf_iterator<char>(std::cin), {});
  if (text.size() > crypt::kPaperKeyMaxSize)
    return InvalidArgumentError("standard input: not a ctdump paper key (too large)");
  return text;
}

int RunImportPaperkey(Renderer& out, const KeyArgs& a) {
  if (Status s = MustNotExist(a.path); !s.ok()) return Fail(out, s);
  auto paper = ReadPaper(a.paper_in);
  if (!paper.ok()) return Fail(out, paper.status());
  auto key_file = crypt::ParsePaperKey(*paper, a.paper_in == "-" ? "standard input" : a.paper_in);
  crypt::WipeString(*paper);
  if (!key_file.ok()) return Fail(out, key_file.status());
  Status s = crypt::WriteNewFile(a.path, *key_file, 0600, "key file");
  crypt::WipeString(*key_file);
  if (!s.ok()) return Fail(out, s);
  auto info = crypt::Key::ReadFileInfo(a.path);
  if (!info.ok()) return Fail(out, info.status());
  out.Log(LogLevel::kInfo,
          fmt::format("imported key \"{}\" from the paper key (fingerprint {}, kdf {})", a.path,
                      crypt::FingerprintString(info->fingerprint), crypt::KdfName(info->kdf)));
  out.OnResult(true, kExitOk, InfoJson(a.path, *info));
  return kExitOk;
}

int RunCreateMasterKey(Renderer& out, const KeyArgs& a) {
  std::string pub = a.dir + "/master-public.pem";
  std::string priv = a.dir + "/master-private.pem";
  for (const std::string& p : {pub, priv})
    if (Status s = MustNotExist(p); !s.ok()) return Fail(out, s);
  auto pass = crypt::ReadPassphrase(fmt::format("Passphrase for the master private key {}: ", priv),
                                    /*confirm=*/true);
  if (!pass.ok()) return Fail(out, pass.status());
  out.Log(LogLevel::kInfo, "generating an RSA 4096 master key (this takes a few seconds)");
  Status s = crypt::CreateMasterKeyPair(pub, priv, *pass);
  crypt::WipeString(*pass);
  if (!s.ok()) return Fail(out, s);
  auto key = crypt::MasterPublicKey::LoadPem(pub);
  if (!key.ok()) return Fail(out, key.status());
  out.Log(LogLevel::kInfo,
          fmt::format("created master key {}: \"{}\" (the public half, for the storage) and "
                      "\"{}\" (keep it offline with its passphrase: it recovers the key of every "
                      "backup made while the storage had the public half)",
                      key->FingerprintString(), pub, priv));
  out.OnResult(true, kExitOk,
               {{"public", pub}, {"private", priv}, {"fingerprint", key->FingerprintString()}});
  return kExitOk;
}

int RunShowMasterPubkey(const Context& ctx, Renderer& out, const KeyArgs& a) {
  auto key = crypt::MasterPublicKey::LoadPem(a.path);
  if (!key.ok()) return Fail(out, key.status());
  if (!ctx.json()) {
    fmt::print("path:        {}\n", a.path);
    fmt::print("fingerprint: {}\n", key->FingerprintString());
  }
  out.OnResult(true, kExitOk, {{"path", a.path}, {"fingerprint", key->FingerprintString()}});
  return kExitOk;
}

void AddKdf(CLI::App* sub, KeyArgs& a) {
  sub->add_option("--kdf", a.kdf,
                  "scrypt (default): a passphrase protects the key; none: stored in clear")
      ->check(CLI::IsMember({"scrypt", "none"}));
}

using Runner = int (*)(const Context&, Renderer&, const KeyArgs&);

}  // namespace

void RegisterKey(CLI::App& app, Context& ctx) {
  auto* key = app.add_subcommand("key", "manage encryption key files and the master key");
  key->require_subcommand(1);
  auto a = std::make_shared<KeyArgs>();
  auto runner = [&ctx, a](CLI::App* sub, Runner fn) {
    ctx.AddRunner(sub, [&ctx, a, fn] {
      auto renderer = MakeRenderer(ctx);
      return fn(ctx, *renderer, *a);
    });
  };

  auto* create = key->add_subcommand(
      "create", "create a new encryption key file (mode 0600), protected by a passphrase");
  create->add_option("file", a->path, "where to write the key")->required();
  AddKdf(create, *a);
  runner(create, [](const Context&, Renderer& r, const KeyArgs& x) { return RunCreate(r, x); });

  auto* change = key->add_subcommand(
      "change-passphrase", "change the passphrase (or the kdf) of a key file, atomically");
  change->add_option("file", a->path, "the key file")->required();
  AddKdf(change, *a);
  runner(change,
         [](const Context&, Renderer& r, const KeyArgs& x) { return RunChangePassphrase(r, x); });

  auto* show = key->add_subcommand(
      "show", "show a key file's fingerprint, times and kdf (no passphrase needed)");
  show->add_option("file", a->path, "the key file")->required();
  runner(show, RunShow);

  auto* paper = key->add_subcommand(
      "paperkey", "print a key file for paper: the text between marker lines and a QR code");
  paper->add_option("file", a->path, "the key file")->required();
  paper->add_option("--output-format", a->paper_format, "text (default), html or json")
      ->check(CLI::IsMember({"text", "html", "json"}));
  runner(paper, RunPaperkey);

  auto* import = key->add_subcommand("import", "write a key file from a paper key");
  import->add_option("--paperkey", a->paper_in, "the paper key as typed or scanned (- : stdin)")
      ->required();
  import->add_option("file", a->path, "the key file to write (mode 0600)")->required();
  runner(import,
         [](const Context&, Renderer& r, const KeyArgs& x) { return RunImportPaperkey(r, x); });
  auto* import_paper =
      key->add_subcommand("import-paperkey", "the same as key import --paperkey PAPER FILE");
  import_paper->add_option("paperkey", a->paper_in, "the paper key (- : stdin)")->required();
  import_paper->add_option("file", a->path, "the key file to write (mode 0600)")->required();
  runner(import_paper,
         [](const Context&, Renderer& r, const KeyArgs& x) { return RunImportPaperkey(r, x); });

  auto* master = key->add_subcommand(
      "create-master-key",
      "create an RSA 4096 master key pair: master-public.pem, master-private.pem (0600, "
      "passphrase)");
  master->add_option("--dir", a->dir, "where to write the two files (default: .)");
  runner(master,
         [](const Context&, Renderer& r, const KeyArgs& x) { return RunCreateMasterKey(r, x); });

  auto* show_master =
      key->add_subcommand("show-master-pubkey", "show a master public key's fingerprint");
  show_master->add_option("file", a->path, "the PEM public key")->required();
  runner(show_master, RunShowMasterPubkey);

  RegisterKeyStoreCommands(*key, ctx);
}

}  // namespace ctdump::cli
