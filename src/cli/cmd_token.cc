// `ctdump token add|list|remove`: API tokens for the API server
// (docs/design/api-server.md §2.4), as `pveum user token ...`: the `token:`
// line in <config-dir>/user.cfg and the secret's hash in
// <config-dir>/priv/token.shadow (access/token_admin.h). `token add` shows the
// secret once; with --output-format json the result's data is exactly PVE's
// answer, {"full-tokenid", "info": {"privsep", "expire"?, "comment"?},
// "value"}.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>

#include "access/token_admin.h"
#include "backup/task_log.h"
#include "cli/commands.h"

namespace ctdump::cli {
namespace {

using nlohmann::json;

struct TokenArgs {
  std::string userid;
  std::string name;
  int privsep = 1;
  int64_t expire = 0;
  std::string comment;
  bool expire_given = false;
  bool comment_given = false;
};

access::WarnFn Warner(Renderer& out) {
  return [&out](const std::string& m) { out.Log(LogLevel::kWarn, m); };
}

std::string ExpireText(int64_t expire) { return expire == 0 ? "never" : std::to_string(expire); }

int RunAdd(const Context& ctx, Renderer& out, const TokenArgs& a) {
  access::TokenAddOptions o{a.privsep != 0, a.expire, a.comment};
  auto t = access::AddToken(ctx.paths.config_dir, a.userid, a.name, o, Warner(out));
  if (!t.ok()) return FailOrUsage(out, t.status());
  json info = {{"privsep", t->token.privsep ? 1 : 0}};
  if (a.expire_given) info["expire"] = t->token.expire;
  if (a.comment_given) info["comment"] = t->token.comment;
  if (!ctx.json()) {
    fmt::print("full-tokenid: {}\n", t->token.tokenid);
    fmt::print("value:        {}\n", t->secret);
    fmt::print("privsep:      {}\n", t->token.privsep ? 1 : 0);
    fmt::print("expire:       {}\n", ExpireText(t->token.expire));
    if (!t->token.comment.empty())
      fmt::print("comment:      {}\n", backup::EscapeControl(t->token.comment));
    fmt::print("The value is shown only this once: store it now.\n");
  }
  out.OnResult(true, kExitOk,
               {{"full-tokenid", t->token.tokenid}, {"info", info}, {"value", t->secret}});
  return kExitOk;
}

int RunList(const Context& ctx, Renderer& out, const TokenArgs& a) {
  auto tokens = access::ListTokens(ctx.paths.config_dir, a.userid, Warner(out));
  if (!tokens.ok()) return FailOrUsage(out, tokens.status());
  json data = json::array();
  if (!ctx.json() && !tokens->empty())
    fmt::print("{:<24} {:<7} {:<12} {}\n", "TOKENID", "PRIVSEP", "EXPIRE", "COMMENT");
  for (const access::Token& t : *tokens) {
    data.push_back({{"tokenid", t.name},
                    {"privsep", t.privsep ? 1 : 0},
                    {"expire", t.expire},
                    {"comment", t.comment}});
    if (!ctx.json())
      fmt::print("{:<24} {:<7} {:<12} {}\n", t.name, t.privsep ? 1 : 0, ExpireText(t.expire),
                 backup::EscapeControl(t.comment));
  }
  if (!ctx.json() && tokens->empty()) fmt::print("no tokens for {}\n", a.userid);
  out.OnResult(true, kExitOk, data);
  return kExitOk;
}

int RunRemove(const Context& ctx, Renderer& out, const TokenArgs& a) {
  Status s = access::RemoveToken(ctx.paths.config_dir, a.userid, a.name, Warner(out));
  if (!s.ok()) return FailOrUsage(out, s);
  std::string id = a.userid + "!" + a.name;
  out.Log(LogLevel::kInfo, fmt::format("removed token {}", id));
  out.OnResult(true, kExitOk, {{"full-tokenid", id}});
  return kExitOk;
}

using Runner = int (*)(const Context&, Renderer&, const TokenArgs&);

}  // namespace

void RegisterToken(CLI::App& app, Context& ctx) {
  auto* token = app.add_subcommand(
      "token", "manage API tokens (user.cfg token: lines, secrets hashed in priv/token.shadow)");
  token->require_subcommand(1);
  auto a = std::make_shared<TokenArgs>();
  auto runner = [&ctx, a](CLI::App* sub, Runner fn) {
    ctx.AddRunner(sub, [&ctx, a, fn] {
      auto renderer = MakeRenderer(ctx);
      return fn(ctx, *renderer, *a);
    });
  };

  auto* add =
      token->add_subcommand("add", "create an API token and print its secret (shown only once)");
  add->add_option("userid", a->userid, "the token's user id, as in user.cfg")->required();
  add->add_option("name", a->name, "the token's name ([A-Za-z][A-Za-z0-9.-_]+)")->required();
  add->add_option("--privsep", a->privsep,
                  "1 (default): the token's own ACL entries, limited to the user's; 0: the "
                  "user's privileges")
      ->check(CLI::IsMember({0, 1}));
  auto* expire = add->add_option("--expire", a->expire, "expiry as Unix seconds (default 0: never)")
                     ->check(CLI::NonNegativeNumber);
  auto* comment = add->add_option("--comment", a->comment, "a comment");
  // PVE's answer has "expire" and "comment" only when they were given.
  add->parse_complete_callback([a, expire, comment] {
    a->expire_given = expire->count() > 0;
    a->comment_given = comment->count() > 0;
  });
  runner(add, RunAdd);

  auto* list = token->add_subcommand("list", "list a user's API tokens");
  list->add_option("userid", a->userid, "the user id, as in user.cfg")->required();
  runner(list, RunList);

  auto* remove = token->add_subcommand("remove", "remove an API token and its secret");
  remove->add_option("userid", a->userid, "the token's user id, as in user.cfg")->required();
  remove->add_option("name", a->name, "the token's name")->required();
  runner(remove, RunRemove);
}

}  // namespace ctdump::cli
