#include "provider/volume_id.h"

#include <gtest/gtest.h>

#include <optional>

namespace ctdump::provider {
namespace {

struct Case {
  const char* volid;
  // nullopt: InvalidArgument
  std::optional<std::pair<std::string, std::string>> parts;
};

TEST(VolumeIdTest, Table) {
  const Case kCases[] = {
      {"local:vzdump-lxc-100-2024_01_02-03_04_05.tar.zst",
       std::pair{"local", "vzdump-lxc-100-2024_01_02-03_04_05.tar.zst"}},
      {"ds:ct/100/2024-01-02T03:04:05Z", std::pair{"ds", "ct/100/2024-01-02T03:04:05Z"}},
      {"a:b", std::pair{"a", "b"}},
      // PVE's form of the built-in storages' ids: "backup/" is dropped.
      {"local:backup/vzdump-lxc-100-2024_01_02-03_04_05.tar.zst",
       std::pair{"local", "vzdump-lxc-100-2024_01_02-03_04_05.tar.zst"}},
      {"ds:backup/ct/100/2024-01-02T03:04:05Z", std::pair{"ds", "ct/100/2024-01-02T03:04:05Z"}},
      // ... and only there: an external provider's volname is kept.
      {"ext:backup/x", std::pair{"ext", "backup/x"}},
      {"ext:backup/", std::pair{"ext", "backup/"}},
      {"ds:backup/backup/ct/1/t", std::pair{"ds", "backup/backup/ct/1/t"}},
      // A volname may hold colons (the datastore's times); only the first splits.
      {"s::", std::pair{"s", ":"}},
      {"s:a:b:c", std::pair{"s", "a:b:c"}},
      // The volname is the provider's: kept as given, spaces and all.
      {"s: name ", std::pair{"s", " name "}},
      {"", std::nullopt},
      {"local", std::nullopt},        // no colon
      {":vol", std::nullopt},         // empty storage
      {"local:", std::nullopt},       // empty volname
      {":", std::nullopt},            // both empty
      {" local:vol", std::nullopt},   // white space in the storage part
      {"local :vol", std::nullopt},   //
      {"lo\tcal:vol", std::nullopt},  //
      {"local\n:vol", std::nullopt},  //
  };
  for (const Case& c : kCases) {
    auto r = ParseVolumeId(c.volid);
    if (!c.parts) {
      ASSERT_FALSE(r.ok()) << "'" << c.volid << "'";
      EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
      EXPECT_EQ(r.status().message(),
                std::string("volume '") + c.volid + "' is not of the form <storage>:<volname>");
      continue;
    }
    ASSERT_TRUE(r.ok()) << "'" << c.volid << "': " << r.status().message();
    EXPECT_EQ(r->storage, c.parts->first) << c.volid;
    EXPECT_EQ(r->volname, c.parts->second) << c.volid;
  }
}

}  // namespace
}  // namespace ctdump::provider
