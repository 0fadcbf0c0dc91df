// The API's route table (docs/design/api-server.md §5.3), assembled from one
// function per group of endpoints. Each returns rows for api::Router; the
// handlers capture the ServerContext by reference (it outlives the router).
// The dispatcher (api_server.h) authenticates, checks the {node}, the
// parameters and the route's Permission before a handler runs; handlers add
// the checks that depend on data.
#ifndef CTDUMP_SERVER_ROUTES_H_
#define CTDUMP_SERVER_ROUTES_H_

#include <vector>

#include "api/router.h"
#include "server/context.h"

namespace ctdump::server {

// GET /nodes, /nodes/{node} (index), /nodes/{node}/lxc, .../lxc/{vmid},
// .../lxc/{vmid}/status/current (routes_nodes.cc).
std::vector<api::Route> NodeRoutes(const ServerContext& ctx);

// GET /nodes/{node}/storage, .../storage/{storage}, .../content,
// .../content/{volume*} (routes_storage.cc).
std::vector<api::Route> StorageRoutes(const ServerContext& ctx);

// /nodes/{node}/tasks...: list, index, status, log, abort (routes_tasks.cc).
std::vector<api::Route> TaskRoutes(const ServerContext& ctx);

// POST /nodes/{node}/vzdump, POST /nodes/{node}/lxc (restore), PUT and
// DELETE .../content/{volume*} (routes_backup.cc).
std::vector<api::Route> BackupRoutes(const ServerContext& ctx);

// GET /nodes/{node}/storage/{storage}/file-restore/list and .../download:
// the files of a datastore backup (routes_files.cc).
std::vector<api::Route> FileRoutes(const ServerContext& ctx);

// /cluster (index), /cluster/backup CRUD, /cluster/notifications/targets and
// .../{name}/test, /ctdump/jobs (routes_jobs.cc).
std::vector<api::Route> JobRoutes(const ServerContext& ctx);

}  // namespace ctdump::server

#endif  // CTDUMP_SERVER_ROUTES_H_
