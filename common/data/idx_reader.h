// IDX reader for the MNIST family (Fashion-MNIST as Debian ships it: gzip-compressed).
// Magic numbers, dimensions and payload sizes are checked: a truncated or wrong
// file is a Status naming the file and the problem.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace fp {

struct IdxArray {
  std::vector<int64_t> dims;  // e.g. {60000, 28, 28} for images, {60000} for labels
  std::vector<uint8_t> data;  // row-major unsigned bytes
};

// Larger payloads are refused rather than allocated (4 GiB).
constexpr uint64_t kMaxIdxPayloadBytes = uint64_t{1} << 32;

// Reads an IDX file of unsigned bytes (type 0x08); `.gz` files are decompressed.
// `expected_rank` (1 for labels, 3 for images) is checked when non-zero; a payload over
// `max_bytes` is refused from the header (InvalidArgument), before anything is read.
Result<IdxArray> read_idx(const std::string& path, int expected_rank = 0,
                          uint64_t max_bytes = kMaxIdxPayloadBytes);

// Only the header's dimensions, with read_idx's checks of it (the payload is not read: a
// gzip bomb costs nothing here).
Result<std::vector<int64_t>> read_idx_dims(const std::string& path, int expected_rank = 0,
                                           uint64_t max_bytes = kMaxIdxPayloadBytes);

}  // namespace fp
