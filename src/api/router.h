// The API's route table and router (docs/design/api-server.md §5.1).
//
// Module `api` (namespace ctdump::api) is the pure layer of the API server:
//
//   schema.h      Param and the check with PVE's JSONSchema messages
//   format.h      named formats (pve-storage-id, pve-node, ...)
//   pattern.h     a linear-time matcher for Param::pattern
//   request.h     request parsing as pve-http-server's extract_params
//   response.h    PVE's responses and errors, the response sink
//   permission.h  who may call a route, as data (the server evaluates it)
//   router.h      Route, the router, directory indexes, call preparation
//   openapi.h     the OpenAPI 3.0 document of a route table
//
// It does no I/O and depends on base only. Every endpoint is one Route; the
// server builds the table (with handlers that capture its state) once, and
// from it come the matching, the parameter checks, the indexes and the
// OpenAPI document, so they cannot disagree.
//
// A call, as the server runs it:
//   1. SplitTarget + ApiPath        (request.h; not under /api2/json: the server's 501)
//   2. authentication               (server, access module; 401)
//   3. Router::Prepare              extract_params, match (501), path parameter
//                                   conflicts and the schema check (400)
//   4. Route::allow_token, CheckRootOnly, Route::permission (server; 403)
//   5. Route::handler               answers through the ResponseSink
// PVE checks permissions before the schema; ctdump checks the schema first so
// that ACL paths are only ever built from checked values.
//
// Matching is by path segment ('/'-separated; empty segments, as from "//" or
// a trailing '/', are ignored as PVE's find_handler does): a literal segment
// matches itself, "{x}" any one segment, "{x*}" (last only) the rest of the
// path with its '/' (PVE's fragmentDelimiter => '', the {volume} of content
// calls). Literals win over "{x}", which wins over "{x*}". The path is
// decoded before it is split (PVE's order), so "%2F" separates segments too,
// and a path parameter may hold any other byte, NUL included: formats and
// handlers check what a value may be.
//
// Thread-safety: a Router is immutable after Create(); Find/Prepare may run
// concurrently. Handlers run on the server's threads.
#ifndef CTDUMP_API_ROUTER_H_
#define CTDUMP_API_ROUTER_H_

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/permission.h"
#include "api/request.h"
#include "api/response.h"
#include "api/schema.h"
#include "ctdump/status.h"

namespace ctdump::api {

enum class Method { kGet, kPost, kPut, kDelete };

// "GET", "POST", "PUT", "DELETE".
std::string_view MethodName(Method method);
std::optional<Method> ParseMethod(std::string_view name);

// The authenticated caller (empty for anonymous routes).
struct Caller {
  std::string userid{};   // "root@pam"
  std::string tokenid{};  // "ci" of "root@pam!ci"; "" when authenticated by a ticket
};

struct Route;

// What a handler gets. References live for the duration of the call.
struct HandlerContext {
  const Route& route;
  const Caller& caller;
  const nlohmann::json& params;  // checked and typed (CheckParams), path parameters included
  ResponseSink& sink;
};

// Answers through ctx.sink exactly once (ResponseSink's contract). Must not
// throw: the server treats an escaping exception as a 500.
using Handler = std::function<void(const HandlerContext& ctx)>;

struct Route {
  Method method = Method::kGet;
  // "/nodes/{node}/storage/{storage}/content/{volume*}", "/" for the root.
  std::string path{};
  std::string description{};
  // Every parameter, path ones included (required strings).
  std::vector<Param> params{};
  // JSON schema of "data" (OpenAPI); null: undocumented.
  nlohmann::json returns{};
  Permission permission{};
  // PVE's allowtoken: false refuses API tokens (403).
  bool allow_token = true;
  // Parameters only root@pam (with a ticket) may give (CheckRootOnly).
  std::vector<std::string> root_only{};
  // A download: the handler streams (ResponseSink::BeginStream).
  bool streams = false;
  // A directory index (GET): without a handler, the router installs one that
  // answers [{"subdir": <child>}] from the table's literal children.
  bool index = false;
  Handler handler{};
};

// Everything the handler needs, after step 3 above.
struct PreparedCall {
  const Route* route = nullptr;
  nlohmann::json params{};  // checked and typed
};

struct HttpRequest {
  std::string_view method{};
  std::string_view path{};  // decoded, below kApiRoot (ApiPath)
  std::string_view query{};
  std::string_view content_type{};
  std::string_view body{};
};

class Router {
 public:
  // Checks the table: well-formed templates ('{x*}' only last), one route per
  // method and path, the same variable name at the same position, a required
  // string Param for each path variable, valid Params with unique names,
  // root_only naming Params, a handler on every route but GET indexes.
  // InvalidArgument names the route.
  static Result<Router> Create(std::vector<Route> routes);

  struct Match {
    const Route* route = nullptr;
    std::map<std::string, std::string> path_params{};
  };

  // The route for `method` and a decoded `path` ("" or "/" is the root), or
  // 501 Method '<METHOD> <path>' not implemented.
  std::variant<Match, ApiError> Find(std::string_view method, std::string_view path) const;

  // Parameters extracted, the route found, path parameters merged and
  // everything checked; an ApiError (400, 413, 501) otherwise.
  std::variant<PreparedCall, ApiError> Prepare(const HttpRequest& request,
                                               const RequestLimits& limits = {}) const;

  // The literal child segments below `path_template`, sorted (the index).
  std::vector<std::string> Children(std::string_view path_template) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  struct Node {
    std::map<std::string, size_t, std::less<>> literals{};
    std::optional<size_t> var{};
    std::string var_name{};
    std::optional<size_t> tail{};
    std::string tail_name{};
    std::map<Method, size_t> routes{};  // index into routes_
  };

  Router() = default;
  Status Add(size_t route_index);
  std::optional<size_t> NodeOf(std::string_view path_template) const;
  bool Walk(size_t node, const std::vector<std::string_view>& segs, size_t i,
            std::map<std::string, std::string>& params, size_t* found) const;

  std::vector<Route> routes_{};
  std::vector<Node> nodes_{};
};

// [{"subdir": c}, ...] for PVE's index calls.
nlohmann::json SubdirIndex(const std::vector<std::string>& children);

// 400 "Only root may set this option." on each root-only parameter given
// by anyone but root@pam with a ticket (PVE's vzdump check); nullopt if fine.
std::optional<ApiError> CheckRootOnly(const Route& route, const nlohmann::json& params,
                                      const Caller& caller);

}  // namespace ctdump::api

#endif  // CTDUMP_API_ROUTER_H_
