#include "api/router.h"

#include <set>
#include <utility>

namespace ctdump::api {
namespace {

using nlohmann::json;

// Deeper paths are not served (no endpoint needs them).
constexpr size_t kMaxSegments = 256;

std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> segs;
  size_t i = 0;
  while (i < path.size()) {
    size_t end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    if (end > i) segs.push_back(path.substr(i, end - i));
    i = end + 1;
  }
  return segs;
}

struct TemplateSeg {
  enum class Kind { kLiteral, kVar, kTail } kind;
  std::string text;  // the literal or the variable's name
};

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

Result<std::vector<TemplateSeg>> ParseTemplate(std::string_view path) {
  if (path.empty() || path[0] != '/')
    return InvalidArgumentError("route path '" + std::string(path) + "' does not start with '/'");
  std::vector<TemplateSeg> out;
  std::vector<std::string_view> segs = Segments(path);
  for (size_t i = 0; i < segs.size(); ++i) {
    std::string_view s = segs[i];
    if (s.front() != '{') {
      if (s.find_first_of("{}") != std::string_view::npos)
        return InvalidArgumentError("route path '" + std::string(path) + "': bad segment");
      out.push_back({TemplateSeg::Kind::kLiteral, std::string(s)});
      continue;
    }
    if (s.size() < 3 || s.back() != '}')
      return InvalidArgumentError("route path '" + std::string(path) + "': bad variable");
    std::string_view name = s.substr(1, s.size() - 2);
    bool tail = name.back() == '*';
    if (tail) name.remove_suffix(1);
    bool ok = !name.empty();
    for (char c : name) ok = ok && IsNameChar(c);
    if (!ok) return InvalidArgumentError("route path '" + std::string(path) + "': bad variable");
    if (tail && i + 1 != segs.size())
      return InvalidArgumentError("route path '" + std::string(path) + "': {x*} is not last");
    out.push_back({tail ? TemplateSeg::Kind::kTail : TemplateSeg::Kind::kVar, std::string(name)});
  }
  return out;
}

const Param* FindParam(const Route& route, std::string_view name) {
  for (const Param& p : route.params)
    if (p.name == name) return &p;
  return nullptr;
}

Status CheckRouteParams(const Route& route, const std::vector<TemplateSeg>& segs) {
  std::string where = std::string(MethodName(route.method)) + " " + route.path;
  std::set<std::string> names;
  for (const Param& p : route.params) {
    Status s = ValidateParam(p);
    if (!s.ok()) return s.WithContext(where);
    if (!names.insert(p.name).second)
      return InvalidArgumentError(where + ": parameter '" + p.name + "' twice");
  }
  for (const TemplateSeg& seg : segs) {
    if (seg.kind == TemplateSeg::Kind::kLiteral) continue;
    const Param* p = FindParam(route, seg.text);
    if (!p || !p->required || p->type != ParamType::kString)
      return InvalidArgumentError(where + ": path variable '" + seg.text +
                                  "' needs a required string parameter");
  }
  for (const std::string& name : route.root_only)
    if (!FindParam(route, name))
      return InvalidArgumentError(where + ": root_only names no parameter '" + name + "'");
  for (const PrivCheck& check : route.permission.any_of) {
    if (check.path.empty() || check.path[0] != '/' || check.privs.empty())
      return InvalidArgumentError(where + ": bad permission path '" + check.path + "'");
    // Every variable of the ACL path must be a parameter: ExpandAclPath then
    // fails only when an optional one is absent.
    for (size_t open = check.path.find('{'); open != std::string::npos;
         open = check.path.find('{', open + 1)) {
      size_t close = check.path.find('}', open);
      if (close == std::string::npos ||
          !FindParam(route, check.path.substr(open + 1, close - open - 1)))
        return InvalidArgumentError(where + ": permission path '" + check.path +
                                    "' names no parameter");
    }
  }
  if (route.index && route.method != Method::kGet)
    return InvalidArgumentError(where + ": an index must be a GET");
  if (!route.handler && !route.index) return InvalidArgumentError(where + ": no handler");
  return Status::OK();
}

}  // namespace

std::string_view MethodName(Method method) {
  switch (method) {
    case Method::kGet:
      return "GET";
    case Method::kPost:
      return "POST";
    case Method::kPut:
      return "PUT";
    case Method::kDelete:
      return "DELETE";
  }
  return "GET";
}

std::optional<Method> ParseMethod(std::string_view name) {
  for (Method m : {Method::kGet, Method::kPost, Method::kPut, Method::kDelete})
    if (MethodName(m) == name) return m;
  return std::nullopt;
}

Result<Router> Router::Create(std::vector<Route> routes) {
  Router router;
  router.routes_ = std::move(routes);
  router.nodes_.emplace_back();
  for (size_t i = 0; i < router.routes_.size(); ++i) RETURN_IF_ERROR(router.Add(i));
  for (Route& route : router.routes_) {
    if (!route.index || route.handler) continue;
    json data = SubdirIndex(router.Children(route.path));
    route.handler = [data](const HandlerContext& ctx) { ctx.sink.Data(data); };
  }
  return router;
}

Status Router::Add(size_t route_index) {
  const Route& route = routes_[route_index];
  ASSIGN_OR_RETURN(std::vector<TemplateSeg> segs, ParseTemplate(route.path));
  RETURN_IF_ERROR(CheckRouteParams(route, segs));
  std::string where = std::string(MethodName(route.method)) + " " + route.path;
  size_t node = 0;
  for (const TemplateSeg& seg : segs) {
    // nodes_ grows below: no reference into it survives an emplace_back.
    if (seg.kind == TemplateSeg::Kind::kLiteral) {
      auto it = nodes_[node].literals.find(seg.text);
      if (it == nodes_[node].literals.end()) {
        nodes_.emplace_back();
        it = nodes_[node].literals.emplace(seg.text, nodes_.size() - 1).first;
      }
      node = it->second;
      continue;
    }
    bool tail = seg.kind == TemplateSeg::Kind::kTail;
    Node& n = nodes_[node];
    std::optional<size_t> child = tail ? n.tail : n.var;
    std::string& name = tail ? n.tail_name : n.var_name;
    if (child && name != seg.text)
      return InvalidArgumentError(where + ": variable '" + seg.text +
                                  "' where another route has '" + name + "'");
    if (!child) {
      child = nodes_.size();
      (tail ? n.tail : n.var) = child;
      name = seg.text;
      nodes_.emplace_back();  // invalidates `n` and `name`
    }
    node = *child;
  }
  if (!nodes_[node].routes.emplace(route.method, route_index).second)
    return InvalidArgumentError(where + ": defined twice");
  return Status::OK();
}

bool Router::Walk(size_t node, const std::vector<std::string_view>& segs, size_t i,
                  std::map<std::string, std::string>& params, size_t* found) const {
  const Node& n = nodes_[node];
  if (i == segs.size()) {
    if (n.routes.empty()) return false;
    *found = node;
    return true;
  }
  if (auto it = n.literals.find(segs[i]); it != n.literals.end()) {
    if (Walk(it->second, segs, i + 1, params, found)) return true;
  }
  if (n.var) {
    if (Walk(*n.var, segs, i + 1, params, found)) {
      params[n.var_name] = std::string(segs[i]);
      return true;
    }
  }
  if (n.tail && !nodes_[*n.tail].routes.empty()) {
    std::string rest;
    for (size_t k = i; k < segs.size(); ++k) {
      if (k > i) rest += '/';
      rest += segs[k];
    }
    params[n.tail_name] = std::move(rest);
    *found = *n.tail;
    return true;
  }
  return false;
}

std::variant<Router::Match, ApiError> Router::Find(std::string_view method,
                                                   std::string_view path) const {
  ApiError not_found = NotImplementedError(method, path.empty() ? "/" : path);
  std::optional<Method> m = ParseMethod(method);
  std::vector<std::string_view> segs = Segments(path);
  if (!m || segs.size() > kMaxSegments) return not_found;
  Match match;
  size_t node = 0;
  if (!Walk(0, segs, 0, match.path_params, &node)) return not_found;
  auto it = nodes_[node].routes.find(*m);
  if (it == nodes_[node].routes.end()) return not_found;
  match.route = &routes_[it->second];
  return match;
}

std::variant<PreparedCall, ApiError> Router::Prepare(const HttpRequest& request,
                                                     const RequestLimits& limits) const {
  json raw;
  RawRequest r{request.method, request.query, request.content_type, request.body};
  if (std::optional<ApiError> error = ExtractParams(r, limits, &raw)) return *std::move(error);
  std::variant<Match, ApiError> found = Find(request.method, request.path);
  if (auto* error = std::get_if<ApiError>(&found)) return std::move(*error);
  Match& match = std::get<Match>(found);
  ParamErrors conflicts = MergePathParams(match.path_params, raw);
  if (!conflicts.empty()) return ParamError(std::move(conflicts));
  CheckResult checked = CheckParams(match.route->params, raw);
  if (!checked.errors.empty()) return ParamError(std::move(checked.errors));
  return PreparedCall{match.route, std::move(checked.values)};
}

std::optional<size_t> Router::NodeOf(std::string_view path_template) const {
  Result<std::vector<TemplateSeg>> segs = ParseTemplate(path_template);
  if (!segs.ok()) return std::nullopt;
  size_t node = 0;
  for (const TemplateSeg& seg : *segs) {
    const Node& n = nodes_[node];
    std::optional<size_t> next;
    if (seg.kind == TemplateSeg::Kind::kLiteral) {
      auto it = n.literals.find(seg.text);
      if (it != n.literals.end()) next = it->second;
    } else if (seg.kind == TemplateSeg::Kind::kVar && n.var_name == seg.text) {
      next = n.var;
    } else if (seg.kind == TemplateSeg::Kind::kTail && n.tail_name == seg.text) {
      next = n.tail;
    }
    if (!next) return std::nullopt;
    node = *next;
  }
  return node;
}

std::vector<std::string> Router::Children(std::string_view path_template) const {
  std::vector<std::string> out;
  std::optional<size_t> node = NodeOf(path_template);
  if (!node) return out;
  for (const auto& [name, child] : nodes_[*node].literals) out.push_back(name);
  return out;
}

json SubdirIndex(const std::vector<std::string>& children) {
  json list = json::array();
  for (const std::string& c : children) list.push_back({{"subdir", c}});
  return list;
}

std::optional<ApiError> CheckRootOnly(const Route& route, const json& params,
                                      const Caller& caller) {
  if (caller.userid == "root@pam" && caller.tokenid.empty()) return std::nullopt;
  ParamErrors errors;
  for (const std::string& name : route.root_only)
    if (params.contains(name)) errors[name] = "Only root may set this option.";
  if (errors.empty()) return std::nullopt;
  return ParamError(std::move(errors));
}

}  // namespace ctdump::api
