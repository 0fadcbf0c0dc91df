// The provider conformance suite (provider/conformance.h) on the built-in
// `dir` provider: vzdump's .tar.zst files in <path>/dump.
#include <gtest/gtest.h>

#include "provider/conformance.h"
#include "providers/dir_provider.h"

namespace ctdump::providers {
namespace {

Result<std::unique_ptr<Provider>> OpenDir(const std::string& storage_dir, Observer* observer) {
  ASSIGN_OR_RETURN(auto p,
                   DirProvider::Create({"dir", "conformance", {{"path", storage_dir}}}, observer));
  return std::unique_ptr<Provider>(std::move(p));
}

class DirConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(DirConformance, Case) { provider::RunProviderConformanceCase(GetParam(), OpenDir); }

INSTANTIATE_TEST_SUITE_P(Dir, DirConformance,
                         ::testing::ValuesIn(provider::ProviderConformanceCases()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ctdump::providers
