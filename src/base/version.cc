#include "ctdump/version.h"

namespace ctdump {
const char* Version() { return CTDUMP_VERSION; }
}  // namespace ctdump
