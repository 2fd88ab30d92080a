// HEIF/HEIC pictures: what an iPhone saves its photos as by default. Decoded with libheif
// (its HEVC decoder), with the picture's rotation and mirroring applied, as it is shown.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace fp {

// True when `file_bytes` begin as a HEIF file does: an `ftyp` box naming a HEIF brand
// (heic, heix, heim, heis, hevc, hevx, mif1, msf1). Told by the bytes, not the name.
bool looks_like_heif(std::string_view file_bytes);

struct DecodedPicture {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  // [height, width, channels], row-major
};

// The file's primary picture as `channels` (1: luma, 3: RGB) 8-bit pixels. Refused from its
// header, before decoding, above `max_pixels`. Corruption naming libheif's reason otherwise.
Result<DecodedPicture> decode_heif(std::string_view file_bytes, int64_t channels,
                                   int64_t max_pixels);

}  // namespace fp
