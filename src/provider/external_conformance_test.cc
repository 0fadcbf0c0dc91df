// The provider conformance suite (provider/conformance.h) on the external
// provider adapter driving examples/providers/dir-example.py over the real
// protocol (a main instance per provider object, a worker instance per
// backup_container), once with each restore mechanism it offers.
#include <gtest/gtest.h>

#include "provider/conformance.h"
#include "provider/external_provider.h"

namespace ctdump::provider {
namespace {

ProviderFactory OpenExample(const std::string& restore_mechanism) {
  return [restore_mechanism](const std::string& storage_dir,
                             Observer* observer) -> Result<std::unique_ptr<Provider>> {
    Section s{"provider",
              "conformance",
              {{"command", CTDUMP_EXAMPLE_PROVIDER},
               {"path", storage_dir},
               {"restore-mechanism", restore_mechanism}}};
    ASSIGN_OR_RETURN(auto p, ExternalProvider::Create(s, observer));
    return std::unique_ptr<Provider>(std::move(p));
  };
}

class ExternalConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(ExternalConformance, Case) { RunProviderConformanceCase(GetParam(), OpenExample("tar")); }

INSTANTIATE_TEST_SUITE_P(DirExample, ExternalConformance,
                         ::testing::ValuesIn(ProviderConformanceCases()),
                         [](const auto& info) { return info.param; });

// The other mechanism: the provider extracts into a directory of its own,
// ctdump copies from there; restore_container_cleanup removes it.
TEST(ExternalConformanceDirectoryMechanism, RestoreGivesBackTheTreeRoot) {
  RunProviderConformanceCase("RestoreGivesBackTheTreeRoot", OpenExample("directory"));
}

}  // namespace
}  // namespace ctdump::provider
