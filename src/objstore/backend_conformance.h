// The one conformance suite every ObjectBackend implementation runs (as
// restic's internal/backend/test/suite.go): round trips, put-if-absent
// idempotence and atomicity under concurrency, replace, stat, prefix listing,
// delete and NotFound, name validation. Behaviour particular to one backend
// (the local backend's crash leftovers, say) is tested beside that backend.
//
// Uses GoogleTest assertions: link it into test binaries only. A failure is
// reported in the calling test, under a trace naming the case.
#ifndef CTDUMP_OBJSTORE_BACKEND_CONFORMANCE_H_
#define CTDUMP_OBJSTORE_BACKEND_CONFORMANCE_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/object_backend.h"

namespace ctdump::objstore {

// Returns a fresh, empty store for each call (never null).
using BackendFactory = std::function<std::unique_ptr<ObjectBackend>()>;

// The names of the cases, in the order RunBackendConformance runs them; use
// them to register one test per case (a parameterised test).
std::vector<std::string> BackendConformanceCases();

// Runs the case `name` (one of BackendConformanceCases()) on a fresh store.
void RunBackendConformanceCase(std::string_view name, const BackendFactory& make);

// Runs every case, each on a fresh store.
void RunBackendConformance(BackendFactory make);

}  // namespace ctdump::objstore

#endif  // CTDUMP_OBJSTORE_BACKEND_CONFORMANCE_H_
