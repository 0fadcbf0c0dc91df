// Sizes for people: "512 B", "1.5 KiB", "4.8 GiB".
#ifndef CTDUMP_UNITS_H_
#define CTDUMP_UNITS_H_

#include <cstdint>
#include <string>

namespace ctdump {

// Binary units with one decimal ("1.0 KiB" from 1024 on), bytes below.
std::string HumanBytes(uint64_t bytes);

}  // namespace ctdump

#endif  // CTDUMP_UNITS_H_
