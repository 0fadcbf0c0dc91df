// The API dispatcher (docs/design/api-server.md §5): one request from its
// channel to its answer.
//
//   read the request (channel, 30 s) → find the route (501) → authenticate
//   unless anonymous (401) → CSRF for writes by ticket (401) → parameters
//   (400) → {node} is this node (400) → root-only parameters, the route's
//   privileges (403) → the handler → audit (writes, denials)
//
// The answer goes back through a ResponseSink on the channel; a handler
// that sent nothing is a 500. `/api2/openapi.json` (anonymous) is the
// OpenAPI document of the same table.
//
// Thread-safety: HandleChannel is called on many request threads at once;
// the router and context are read-only, AccessState is thread-safe.
#ifndef CTDUMP_SERVER_API_SERVER_H_
#define CTDUMP_SERVER_API_SERVER_H_

#include <string>
#include <vector>

#include "api/router.h"
#include "server/access_state.h"
#include "server/context.h"

namespace ctdump::server {

// The routes of the dispatcher itself: GET / (index), GET /version,
// POST and GET /access/ticket, GET /access/domains, GET /access (index).
std::vector<api::Route> AccessRoutes(const ServerContext& ctx);

class ApiServer {
 public:
  ApiServer(const ServerContext& ctx, AccessState& access, api::Router router);

  // Reads one request from `channel_fd`, answers it; never throws.
  void HandleChannel(int channel_fd);

  const api::Router& router() const { return router_; }

 private:
  const ServerContext& ctx_;
  AccessState& access_;
  api::Router router_;
  std::string openapi_;  // the document, made once
};

}  // namespace ctdump::server

#endif  // CTDUMP_SERVER_API_SERVER_H_
