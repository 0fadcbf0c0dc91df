#include "server/api_server.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>

#include "api/openapi.h"
#include "api/request.h"
#include "api/response.h"
#include "channel/channel.h"
#include "channel/channel_format.h"
#include "ctdump/version.h"
#include "server/route_parts.h"

namespace ctdump::server {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// The answer to one request, written to its channel. Exactly one of Send
// or BeginStream ... EndStream.
class ChannelSink : public api::ResponseSink {
 public:
  explicit ChannelSink(int fd) : fd_(fd) {}

  // A header for the answer (Set-Cookie of a login), before it is sent.
  void AddHeader(std::string name, std::string value) {
    extra_.emplace_back(std::move(name), std::move(value));
  }

  void Send(api::HttpResponse r) override {
    if (started_) return;
    started_ = true;
    status_ = r.status;
    channel::ResponseHeader h;
    h.status = r.status;
    h.reason = r.reason;
    if (!r.content_type.empty()) h.headers.emplace_back("Content-Type", r.content_type);
    for (auto& e : extra_) h.headers.push_back(e);
    h.length = r.body.size();
    if (!Ok(channel::WriteResponseHead(fd_, h, Deadline(channel::kResponseHeadTimeout)))) return;
    if (!r.body.empty() &&
        !Ok(channel::WriteBodyChunk(fd_, r.body, Deadline(channel::kBodyFrameTimeout))))
      return;
    Ok(channel::EndBody(fd_, Deadline(channel::kBodyFrameTimeout)));
  }

  bool BeginStream(api::StreamHead head) override {
    if (started_) return false;
    started_ = true;
    status_ = 200;
    channel::ResponseHeader h;
    h.status = 200;
    h.reason = "OK";
    h.headers.emplace_back("Content-Type", head.content_type);
    for (auto& e : head.headers) h.headers.push_back(std::move(e));
    for (auto& e : extra_) h.headers.push_back(e);
    h.length = head.content_length;
    return Ok(channel::WriteResponseHead(fd_, h, Deadline(channel::kResponseHeadTimeout)));
  }

  bool Write(std::string_view bytes) override {
    if (broken_) return false;
    return Ok(channel::WriteBodyChunk(fd_, bytes, Deadline(channel::kBodyFrameTimeout)));
  }

  void EndStream(Status status) override {
    if (broken_) return;
    if (!status.ok()) {
      std::fprintf(stderr, "API: a download ended early: %s\n", status.message().c_str());
      Ok(channel::AbortBody(fd_, Deadline(channel::kBodyFrameTimeout)));
      return;
    }
    Ok(channel::EndBody(fd_, Deadline(channel::kBodyFrameTimeout)));
  }

  bool started() const { return started_; }
  int status() const { return status_; }

 private:
  static Clock::time_point Deadline(std::chrono::seconds d) { return Clock::now() + d; }
  bool Ok(const Status& s) {
    if (!s.ok()) broken_ = true;
    return s.ok();
  }

  int fd_;
  bool started_ = false, broken_ = false;
  int status_ = 0;
  std::vector<std::pair<std::string, std::string>> extra_;
};

bool IsWrite(std::string_view method) { return method != "GET"; }

std::string ParamNames(const json& params) {
  std::string out;
  if (!params.is_object()) return out;
  for (auto it = params.begin(); it != params.end(); ++it) {
    if (it.key() == "password") continue;  // never even the name matters: it is a login
    if (!out.empty()) out += ',';
    out += it.key();
  }
  return out;
}

// A cookie value: everything but RFC 3986's unreserved characters
// percent-encoded (a ticket holds ':', '=', '+', '/').
std::string CookieEncode(std::string_view v) {
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

api::Param StringParam(std::string name, bool required, size_t max_length,
                       std::string description) {
  api::Param p;
  p.name = std::move(name);
  p.required = required;
  p.max_length = max_length;
  p.description = std::move(description);
  return p;
}

// A /access/ticket route the dispatcher answers itself (the login needs the
// request's headers, the logout removes the cookie): anonymous, no API
// tokens. Its handler answers only a dispatcher that did not: 500 naming
// `what`.
api::Route DispatcherTicketRoute(api::Method method, std::string_view what,
                                 std::string description) {
  api::Route r;
  r.method = method;
  r.path = "/access/ticket";
  r.description = std::move(description);
  r.permission = api::Permission::Anonymous();
  r.allow_token = false;
  r.handler = [message = fmt::format("the {} is answered by the dispatcher\n", what)](
                  const api::HandlerContext& c) { c.sink.Error(api::MakeError(500, message)); };
  return r;
}

}  // namespace

std::vector<api::Route> AccessRoutes(const ServerContext& ctx) {
  (void)ctx;
  std::vector<api::Route> routes;
  routes.push_back(IndexRoute("/"));

  api::Route version;
  version.path = "/version";
  version.description = "API version details (ctdump's version, not a PVE release).";
  version.permission = api::Permission::Authenticated();
  version.handler = [](const api::HandlerContext& c) {
    std::string v = Version();
    std::string release = v.substr(0, v.find('.', v.find('.') + 1));
    c.sink.Data({{"version", v}, {"release", release}, {"repoid", "ctdump"}});
  };
  routes.push_back(version);

  routes.push_back(IndexRoute("/access"));

  api::Route domains;
  domains.path = "/access/domains";
  domains.description = "Authentication domain index.";
  domains.permission = api::Permission::Anonymous();
  domains.handler = [](const api::HandlerContext& c) {
    c.sink.Data(json::array(
        {{{"realm", "pam"}, {"type", "pam"}, {"comment", "Linux PAM standard authentication"}},
         {{"realm", "ctdump"},
          {"type", "ctdump"},
          {"comment", "ctdump identities for API tokens (no passwords)"}}}));
  };
  routes.push_back(domains);

  api::Route get_ticket;
  get_ticket.path = "/access/ticket";
  get_ticket.description = "Dummy. Useful for formatters which want to provide a login page.";
  get_ticket.permission = api::Permission::Anonymous();
  get_ticket.handler = [](const api::HandlerContext& c) { c.sink.Data(nullptr); };
  routes.push_back(get_ticket);

  // Logging out (a ctdump extension): the console's cookie is HttpOnly, so
  // only the server can remove it. The dispatcher answers it.
  routes.push_back(DispatcherTicketRoute(
      api::Method::kDelete, "logout",
      "Log out (ctdump extension): removes the PVEAuthCookie cookie. The ticket itself stays "
      "valid until it expires, as every PVE ticket does."));

  // The login itself is answered by the dispatcher (it needs the request's
  // headers and address); the row gives its parameters and documentation.
  api::Route post_ticket = DispatcherTicketRoute(
      api::Method::kPost, "login",
      "Create or verify authentication ticket. A valid ticket of the same user as password "
      "renews it.");
  post_ticket.params = {
      StringParam("username", true, 64, "User name (USER@REALM, or USER with realm)."),
      StringParam("password", true, 4096, "The secret password, or a valid ticket."),
      StringParam("realm", false, 32, "Realm (pam, ctdump), appended to a username without one."),
      StringParam("otp", false, 64, "One-time password (ignored: there is no second factor)."),
      StringParam("tfa-challenge", false, 4096, "Ignored: there is no second factor."),
      StringParam("path", false, 64, "Ignored (PVE's privilege check of a path)."),
      StringParam("privs", false, 64, "Ignored (PVE's privilege check of a path)."),
  };
  api::Param new_format;
  new_format.name = "new-format";
  new_format.type = api::ParamType::kBoolean;
  new_format.description = "Ignored (always the new format).";
  post_ticket.params.push_back(new_format);
  routes.push_back(post_ticket);
  return routes;
}

ApiServer::ApiServer(const ServerContext& ctx, AccessState& access, api::Router router)
    : ctx_(ctx), access_(access), router_(std::move(router)) {
  api::OpenApiInfo info;
  info.version = Version();
  openapi_ = api::OpenApiDocument(router_.routes(), info).dump(1);
}

void ApiServer::HandleChannel(int fd) {
  auto req = channel::ReadRequest(fd, Clock::now() + channel::kRequestTimeout);
  if (!req.ok()) return;  // the proxy died or broke the protocol: nothing to answer
  ChannelSink sink(fd);
  const auto& h = req->header;
  const int64_t now = ::time(nullptr);
  api::Target target = api::SplitTarget(h.target);
  if (target.path == "/api2/openapi.json") {
    api::HttpResponse r;
    r.content_type = "application/json";
    r.body = openapi_;
    return sink.Send(std::move(r));
  }
  auto path = api::ApiPath(target.path);
  if (!path) return sink.Error(api::NotImplementedError(h.method, target.path));
  auto found = router_.Find(h.method, *path);
  if (auto* e = std::get_if<api::ApiError>(&found)) return sink.Error(*e);
  const api::Route& route = *std::get<api::Router::Match>(found).route;

  // POST /access/ticket: the login, anonymous, handled here (it needs the
  // headers and the client's address, which handlers do not see).
  const bool login = route.path == "/access/ticket" && h.method == "POST";
  Identity id;
  if (route.permission.kind != api::Permission::Kind::kAnonymous && !login) {
    auto who = access_.Authenticate(h.headers, h.client, now);
    if (!who.ok()) return sink.Send(api::UnauthorizedResponse(who.status().message()));
    id = *who;
    if (IsWrite(h.method) && !access_.CheckCsrf(id, h.headers, now)) {
      access_.Audit(now, "csrf-fail",
                    {{"client", h.client},
                     {"user", id.caller.userid},
                     {"method", h.method},
                     {"path", *path}});
      return sink.Send(api::UnauthorizedResponse(api::kInvalidCsrfToken));
    }
    if (!id.caller.tokenid.empty() && !route.allow_token)
      return sink.Error(api::TokenNotAllowedError(*path));
  }
  auto content_type = h.headers.find("content-type");
  api::HttpRequest hr;
  hr.method = h.method;
  hr.path = *path;
  hr.query = target.query;
  hr.content_type = content_type == h.headers.end() ? std::string_view() : content_type->second;
  hr.body = req->body;
  auto prepared = router_.Prepare(hr);
  if (auto* e = std::get_if<api::ApiError>(&prepared)) return sink.Error(*e);
  json& params = std::get<api::PreparedCall>(prepared).params;
  const std::string who =
      id.caller.tokenid.empty() ? id.caller.userid : id.caller.userid + "!" + id.caller.tokenid;
  auto audit_write = [&](int status, std::string_view event = "write") {
    if (!IsWrite(h.method) && event == "write") return;
    access_.Audit(now, event,
                  {{"client", h.client},
                   {"user", who},
                   {"method", h.method},
                   {"path", *path},
                   {"params", ParamNames(params)},
                   {"status", std::to_string(status)}});
  };

  if (route.path == "/access/ticket" && h.method == "DELETE") {
    sink.AddHeader("Set-Cookie",
                   "PVEAuthCookie=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
    return sink.Data(nullptr);
  }
  if (login) {
    std::string username = params.value("username", "");
    if (params.contains("realm") && username.find('@') == std::string::npos)
      username += "@" + params["realm"].get<std::string>();
    auto r = access_.Login(username, params.value("password", ""), h.headers, h.client, now);
    if (!r.ok()) {
      api::HttpResponse res = api::ErrorResponse(api::MakeError(401, "authentication failure\n"));
      return sink.Send(std::move(res));
    }
    sink.AddHeader("Set-Cookie", fmt::format("PVEAuthCookie={}; Path=/; Secure; HttpOnly; "
                                             "SameSite=Strict",
                                             CookieEncode(r->ticket)));
    return sink.Data({{"username", r->username},
                      {"ticket", r->ticket},
                      {"CSRFPreventionToken", r->csrf_token},
                      {"cap", r->cap}});
  }

  if (params.contains("node") && route.path.find("{node}") != std::string::npos) {
    std::string node = params["node"].is_string() ? params["node"].get<std::string>() : "";
    if (node != ctx_.node && node != "localhost") {
      audit_write(400);
      return sink.Error(api::NamedParamError(
          "node", fmt::format("no such node '{}' (this is '{}')", node, ctx_.node)));
    }
    // ACL paths and handlers see the node's real name (/nodes/<node>).
    params["node"] = ctx_.node;
  }
  if (auto e = api::CheckRootOnly(route, params, id.caller)) {
    audit_write(e->status);
    return sink.Error(*e);
  }
  if (route.permission.kind == api::Permission::Kind::kPrivs) {
    std::optional<api::ApiError> denied;
    bool ok = false;
    for (const auto& check : route.permission.any_of) {
      auto acl_path = api::ExpandAclPath(check.path, params);
      if (!acl_path) continue;
      auto privs = access_.Privileges(id.caller, *acl_path, now);
      bool all = true, any = false;
      std::string missing;
      for (const auto& p : check.privs) {
        auto priv = access::PrivFromName(p);
        bool has = priv && privs.Has(*priv);
        any = any || has;
        if (!has && missing.empty()) missing = p;
        all = all && has;
      }
      if (check.any ? any : all) {
        ok = true;
        break;
      }
      if (!denied) denied = api::PermissionError(*acl_path, missing);
    }
    if (!ok) {
      if (!denied) denied = api::MakeError(403, "Permission check failed\n");
      access_.Audit(now, "denied",
                    {{"client", h.client},
                     {"user", who},
                     {"method", h.method},
                     {"path", *path},
                     {"status", "403"},
                     {"reason", denied->message}});
      return sink.Error(*denied);
    }
  }

  if (route.index && !route.handler) {
    sink.Data(api::SubdirIndex(router_.Children(route.path)));
  } else {
    try {
      route.handler(api::HandlerContext{route, id.caller, params, sink});
    } catch (const std::exception& e) {
      std::fprintf(stderr, "API: %s %s: %s\n", h.method.c_str(), path->c_str(), e.what());
      if (!sink.started()) sink.Error(api::MakeError(500, "internal error\n"));
    }
  }
  if (!sink.started()) {
    std::fprintf(stderr, "API: %s %s sent no answer\n", h.method.c_str(), path->c_str());
    sink.Error(api::MakeError(500, "internal error: the handler sent no answer\n"));
  }
  if (sink.status() == 403) {
    access_.Audit(now, "denied",
                  {{"client", h.client},
                   {"user", who},
                   {"method", h.method},
                   {"path", *path},
                   {"status", "403"}});
  } else {
    audit_write(sink.status());
  }
}

}  // namespace ctdump::server
