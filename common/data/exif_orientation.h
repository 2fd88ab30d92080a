// Which way a photo is meant to be seen. Cameras store the sensor's pixels as they came and
// record in the EXIF orientation tag (TIFF 0x0112) how to turn them for display: a phone
// held upright writes a landscape picture tagged "rotate 90 degrees clockwise". A model
// must see it as its owner does.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace fp {

// The EXIF orientation of a picture file's bytes, 1 to 8: a JPEG's (APP1 segment) or a PNG's
// (eXIf chunk), told apart by their signatures, not their names; 1 (as stored) when it has
// none or it cannot be read (libexif).
int exif_orientation(std::string_view file_bytes);

// `pixels` ([h, w, channels], row-major) turned for display as `orientation` (1-8) says:
// 2 mirrored, 3 turned 180 degrees, 4 flipped, 5 transposed, 6 turned 90 degrees clockwise,
// 7 transversed, 8 turned 90 degrees anticlockwise. h and w are swapped for 5 to 8.
std::vector<uint8_t> orient_pixels(const uint8_t* pixels, int64_t& h, int64_t& w, int64_t channels,
                                   int orientation);

}  // namespace fp
