#ifndef CTDUMP_VERSION_H_
#define CTDUMP_VERSION_H_

namespace ctdump {
// The ctdump release, e.g. "0.1.0".
const char* Version();
}  // namespace ctdump

#endif  // CTDUMP_VERSION_H_
