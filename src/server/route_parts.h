// The pieces several route tables (routes_*.cc, AccessRoutes in
// api_server.cc) build their rows from: path parameters and directory
// indexes. Pure values; no state.
#ifndef CTDUMP_SERVER_ROUTE_PARTS_H_
#define CTDUMP_SERVER_ROUTE_PARTS_H_

#include <string>

#include "api/router.h"
#include "api/schema.h"

namespace ctdump::server {

// A path parameter `name` (required, as every path parameter), of the named
// `format` ("" for none), documented by `description` ("" for none).
api::Param PathParam(std::string name, std::string format = {}, std::string description = {});

// {node}: "pve-node", "the node (or localhost)".
api::Param NodeParam();

// GET `path`: "Directory index.", for any authenticated caller; the router
// answers it with the table's children.
api::Route IndexRoute(std::string path);

}  // namespace ctdump::server

#endif  // CTDUMP_SERVER_ROUTE_PARTS_H_
