// `ctdump notify test <target>`, `ctdump notify list` and `ctdump notify send`:
// the notification targets and matchers of <config-dir>/notifications.cfg
// (docs/notifications.md).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "notify/notify.h"

namespace ctdump::cli {
namespace {

Result<notify::Config> Load(const Context& ctx, Renderer& out) {
  Result<notify::Config> config = notify::LoadConfig(ctx.paths.config_dir);
  if (config.ok()) {
    for (const std::string& line : config->info) out.Log(LogLevel::kInfo, line);
  }
  return config;
}

int RunNotifyTest(const Context& ctx, const std::string& target) {
  auto renderer = MakeRenderer(ctx);
  Result<notify::Config> config = Load(ctx, *renderer);
  if (!config.ok()) return Fail(*renderer, config.status());
  Status s = notify::SendTest(*config, target, renderer.get());
  if (!s.ok()) return Fail(*renderer, s);
  renderer->Log(LogLevel::kInfo, fmt::format("test notification sent to target '{}'", target));
  renderer->OnResult(true, kExitOk, {{"target", target}});
  return kExitOk;
}

std::string Where(const notify::Target& t) {
  switch (t.type) {
    case notify::TargetType::kSendmail:
    case notify::TargetType::kSmtp: {
      std::string to = fmt::format("{}", fmt::join(t.mailto, ","));
      return t.type == notify::TargetType::kSmtp ? fmt::format("{} via {}", to, t.server) : to;
    }
    case notify::TargetType::kGotify:
      return t.server;
    case notify::TargetType::kWebhook:
      return fmt::format("{} {}", t.method, t.url);
  }
  return "";
}

nlohmann::json TargetJson(const notify::Target& t) {
  nlohmann::json j = {{"name", t.name},
                      {"type", notify::TargetTypeName(t.type)},
                      {"disable", t.disable},
                      {"comment", t.comment}};
  switch (t.type) {
    case notify::TargetType::kSmtp:
      j["server"] = t.server;
      j["mode"] = t.mode == notify::SmtpMode::kTls        ? "tls"
                  : t.mode == notify::SmtpMode::kStarttls ? "starttls"
                                                          : "insecure";
      if (t.port) j["port"] = *t.port;
      if (!t.username.empty()) j["username"] = t.username;
      [[fallthrough]];
    case notify::TargetType::kSendmail:
      j["mailto"] = t.mailto;
      j["mailto-user"] = t.mailto_user;
      if (!t.from_address.empty()) j["from-address"] = t.from_address;
      if (!t.author.empty()) j["author"] = t.author;
      break;
    case notify::TargetType::kGotify:
      j["server"] = t.server;
      break;
    case notify::TargetType::kWebhook: {
      j["url"] = t.url;
      j["method"] = t.method;
      nlohmann::json headers = nlohmann::json::array();
      for (const notify::NameValue& h : t.headers) headers.push_back(h.name);
      j["header"] = headers;
      nlohmann::json secrets = nlohmann::json::array();
      for (const notify::NameValue& s : t.secrets) secrets.push_back(s.name);
      j["secret"] = secrets;  // names only, as PVE's API
      break;
    }
  }
  return j;
}

std::vector<std::string> MatcherRules(const notify::Matcher& m) {
  std::vector<std::string> rules;
  for (const auto& list : m.match_severity) {
    std::vector<std::string_view> names;
    for (notify::Severity s : list) names.push_back(notify::SeverityName(s));
    rules.push_back(fmt::format("match-severity {}", fmt::join(names, ",")));
  }
  for (const notify::FieldMatch& f : m.match_field) {
    rules.push_back(
        f.is_regex ? fmt::format("match-field regex:{}={}", f.field, f.pattern)
                   : fmt::format("match-field exact:{}={}", f.field, fmt::join(f.values, ",")));
  }
  for (const notify::DailyDuration& d : m.match_calendar) {
    rules.push_back("match-calendar " + d.text);
  }
  return rules;
}

int RunNotifyList(const Context& ctx) {
  auto renderer = MakeRenderer(ctx);
  Result<notify::Config> config = Load(ctx, *renderer);
  if (!config.ok()) return Fail(*renderer, config.status());
  if (ctx.json()) {
    nlohmann::json targets = nlohmann::json::array();
    for (const notify::Target& t : config->targets) targets.push_back(TargetJson(t));
    nlohmann::json matchers = nlohmann::json::array();
    for (const notify::Matcher& m : config->matchers) {
      matchers.push_back({{"name", m.name},
                          {"disable", m.disable},
                          {"comment", m.comment},
                          {"mode", m.mode_any ? "any" : "all"},
                          {"invert-match", m.invert_match},
                          {"rules", MatcherRules(m)},
                          {"target", m.targets}});
    }
    renderer->OnResult(true, kExitOk,
                       {{"source", config->source}, {"targets", targets}, {"matchers", matchers}});
    return kExitOk;
  }
  fmt::print("source: {}\n\n{:<20} {:<9} {:<8} {}\n", config->source, "TARGET", "TYPE", "ENABLED",
             "WHERE");
  for (const notify::Target& t : config->targets) {
    fmt::print("{:<20} {:<9} {:<8} {}\n", t.name, notify::TargetTypeName(t.type),
               t.disable ? "no" : "yes", Where(t));
  }
  fmt::print("\n{:<20} {:<8} {:<24} {}\n", "MATCHER", "ENABLED", "TARGETS", "RULES");
  for (const notify::Matcher& m : config->matchers) {
    std::vector<std::string> rules = MatcherRules(m);
    std::string text = rules.empty() ? "(always)" : fmt::format("{}", fmt::join(rules, "; "));
    if (m.mode_any) text += " [mode any]";
    if (m.invert_match) text += " [inverted]";
    fmt::print("{:<20} {:<8} {:<24} {}\n", m.name, m.disable ? "no" : "yes",
               fmt::format("{}", fmt::join(m.targets, ",")), text);
  }
  return kExitOk;
}

struct SendArgs {
  std::string severity = "info";
  std::string title;
  std::string message;
  std::vector<std::string> fields;
};

// Dispatches a notification through the matchers, as a job would.
int RunNotifySend(const Context& ctx, const SendArgs& a) {
  auto renderer = MakeRenderer(ctx);
  Result<notify::Severity> severity = notify::ParseSeverity(a.severity);
  if (!severity.ok()) return UsageError(*renderer, severity.status().WithContext("--severity"));
  notify::Notification n;
  n.severity = *severity;
  n.title = a.title;
  n.message = a.message;
  n.timestamp = static_cast<int64_t>(::time(nullptr));
  for (const std::string& f : a.fields) {
    size_t eq = f.find('=');
    if (eq == std::string::npos || eq == 0) {
      return UsageError(
          *renderer, InvalidArgumentError(fmt::format("--field '{}': expected <name>=<value>", f)));
    }
    n.fields[f.substr(0, eq)] = f.substr(eq + 1);
  }
  Result<notify::Config> config = Load(ctx, *renderer);
  if (!config.ok()) return Fail(*renderer, config.status());
  std::vector<std::string> targets = notify::MatchingTargets(*config, n);
  size_t sent = notify::Dispatch(*config, n, renderer.get());
  std::string summary =
      fmt::format("notification sent to {} of {} matching target(s){}{}", sent, targets.size(),
                  targets.empty() ? "" : ": ", fmt::join(targets, ", "));
  if (sent < targets.size()) return Fail(*renderer, UnavailableError(summary));
  renderer->Log(LogLevel::kInfo, summary);
  renderer->OnResult(true, kExitOk, {{"sent", sent}, {"targets", targets}});
  return kExitOk;
}

}  // namespace

void RegisterNotify(CLI::App& app, Context& ctx) {
  auto* n = app.add_subcommand("notify", "notification targets and matchers (notifications.cfg)");
  n->require_subcommand(1);
  auto target = std::make_shared<std::string>();
  auto* test = n->add_subcommand("test", "send a test notification to a target");
  test->add_option("target", *target, "target name")->required();
  ctx.AddRunner(test, [&ctx, target] { return RunNotifyTest(ctx, *target); });
  auto* list = n->add_subcommand("list", "list the targets and matchers");
  ctx.AddRunner(list, [&ctx] { return RunNotifyList(ctx); });
  auto send_args = std::make_shared<SendArgs>();
  auto* send = n->add_subcommand(
      "send", "send a notification through the matchers (as a job's notification goes)");
  send->add_option("--severity", send_args->severity, "info|notice|warning|error|unknown")
      ->capture_default_str();
  send->add_option("--title", send_args->title, "title (the mail's subject)")->required();
  send->add_option("--message", send_args->message, "message text");
  send->add_option("--field", send_args->fields, "metadata field <name>=<value> (repeatable)");
  ctx.AddRunner(send, [&ctx, send_args] { return RunNotifySend(ctx, *send_args); });
}

}  // namespace ctdump::cli
