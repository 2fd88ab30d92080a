// A PNG's compressed pixel data measured before it is decoded. stb inflates a PNG's whole
// IDAT stream into memory before it compares it with the header's size, so a 1 MB file that
// declares 1x1 pixels and inflates to a gigabyte took that gigabyte before it was refused.
#pragma once

#include <cstdint>
#include <string_view>

#include "util/status.h"

namespace fp {

// True when `file_bytes` begin with PNG's 8-byte signature.
bool looks_like_png(std::string_view file_bytes);

// The bytes a PNG's IDAT stream inflates to when it holds exactly the pixels of a
// `width` x `height` image of `bits_per_pixel` (one filter byte a row; with Adam7 interlacing
// each of the seven passes' rows).
uint64_t png_raw_bytes(uint64_t width, uint64_t height, uint64_t bits_per_pixel, bool interlaced);

// OK when the IDAT stream of the PNG `file_bytes` inflates to no more than twice what its
// header's pixels take, plus 1 MiB (inflated a block at a time, counted, not kept). Bytes that
// are no well-formed PNG are OK here: the decoder names what is wrong with them.
// InvalidArgument naming both sizes when the stream inflates past that.
Status check_png_inflated_size(std::string_view file_bytes);

}  // namespace fp
