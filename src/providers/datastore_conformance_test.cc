// The provider conformance suite (provider/conformance.h) on the built-in
// `datastore` provider: a deduplicating store on the local object backend,
// restored as a stream.
#include <gtest/gtest.h>

#include "provider/conformance.h"
#include "providers/datastore_provider.h"

namespace ctdump::providers {
namespace {

Result<std::unique_ptr<Provider>> OpenDatastore(const std::string& storage_dir,
                                                Observer* observer) {
  ASSIGN_OR_RETURN(auto p, DatastoreProvider::Create(
                               {"datastore", "conformance", {{"path", storage_dir}}}, observer));
  return std::unique_ptr<Provider>(std::move(p));
}

class DatastoreConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(DatastoreConformance, Case) {
  provider::RunProviderConformanceCase(GetParam(), OpenDatastore);
}

INSTANTIATE_TEST_SUITE_P(Datastore, DatastoreConformance,
                         ::testing::ValuesIn(provider::ProviderConformanceCases()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ctdump::providers
