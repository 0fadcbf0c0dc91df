#include "server/route_parts.h"

#include <utility>

namespace ctdump::server {

api::Param PathParam(std::string name, std::string format, std::string description) {
  return {.name = std::move(name),
          .description = std::move(description),
          .required = true,
          .format = std::move(format)};
}

api::Param NodeParam() { return PathParam("node", "pve-node", "the node (or localhost)"); }

api::Route IndexRoute(std::string path) {
  return {.method = api::Method::kGet,
          .path = std::move(path),
          .description = "Directory index.",
          .permission = api::Permission::Authenticated(),
          .index = true};
}

}  // namespace ctdump::server
