// Tests of sync between datastores (sync.h).
#include "datastore/sync.h"

#include <gtest/gtest.h>

namespace ctdump::datastore {
namespace {

TEST(SyncTest, Placeholder) {}

}  // namespace
}  // namespace ctdump::datastore
