#include "data/png_check.h"

#include <zlib.h>

#include <array>
#include <cstring>
#include <string>

namespace fp {
namespace {

constexpr std::string_view kSignature("\x89PNG\r\n\x1a\n", 8);

uint32_t big_endian_u32(std::string_view bytes, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(bytes[at + i]);
  return v;
}

// Samples a pixel holds, by the header's colour type (0 for a type PNG does not define).
uint64_t samples_per_pixel(uint8_t color_type) {
  switch (color_type) {
    case 0:
      return 1;  // grey
    case 2:
      return 3;  // RGB
    case 3:
      return 1;  // palette index
    case 4:
      return 2;  // grey and alpha
    case 6:
      return 4;  // RGBA
    default:
      return 0;
  }
}

uint64_t rows_bytes(uint64_t width, uint64_t height, uint64_t bits_per_pixel) {
  if (width == 0 || height == 0) return 0;
  return height * (1 + (width * bits_per_pixel + 7) / 8);
}

}  // namespace

bool looks_like_png(std::string_view file_bytes) {
  return file_bytes.substr(0, kSignature.size()) == kSignature;
}

uint64_t png_raw_bytes(uint64_t width, uint64_t height, uint64_t bits_per_pixel, bool interlaced) {
  if (!interlaced) return rows_bytes(width, height, bits_per_pixel);
  struct Pass {
    uint64_t x0, y0, dx, dy;
  };
  constexpr std::array<Pass, 7> kAdam7{{{0, 0, 8, 8},
                                        {4, 0, 8, 8},
                                        {0, 4, 4, 8},
                                        {2, 0, 4, 4},
                                        {0, 2, 2, 4},
                                        {1, 0, 2, 2},
                                        {0, 1, 1, 2}}};
  uint64_t total = 0;
  for (const Pass& p : kAdam7) {
    const uint64_t w = width > p.x0 ? (width - p.x0 + p.dx - 1) / p.dx : 0;
    const uint64_t h = height > p.y0 ? (height - p.y0 + p.dy - 1) / p.dy : 0;
    total += rows_bytes(w, h, bits_per_pixel);
  }
  return total;
}

Status check_png_inflated_size(std::string_view bytes) {
  // The first chunk is IHDR: 4 bytes length (13), "IHDR", then width, height, bit depth,
  // colour type, compression, filter and interlace method.
  constexpr size_t kHeaderEnd = 8 + 8 + 13;
  if (!looks_like_png(bytes) || bytes.size() < kHeaderEnd + 4 || bytes.substr(12, 4) != "IHDR" ||
      big_endian_u32(bytes, 8) != 13)
    return Status();
  const uint64_t width = big_endian_u32(bytes, 16), height = big_endian_u32(bytes, 20);
  const uint64_t bits =
      static_cast<uint8_t>(bytes[24]) * samples_per_pixel(static_cast<uint8_t>(bytes[25]));
  // Sizes past 2^32 pixels are the pixel-count check's to refuse; they would overflow here.
  if (bits == 0 || width > (uint64_t{1} << 31) || height > (uint64_t{1} << 31) ||
      width * height > (uint64_t{1} << 32))
    return Status();
  const uint64_t expected = png_raw_bytes(width, height, bits, bytes[28] == 1);
  const uint64_t limit = 2 * expected + (uint64_t{1} << 20);

  z_stream z;
  std::memset(&z, 0, sizeof z);
  if (inflateInit(&z) != Z_OK) return Status();
  std::array<unsigned char, 1 << 16> scratch;
  uint64_t inflated = 0;
  int rc = Z_OK;
  // Chunks: length, type, data, CRC. A chunk running past the file ends the walk.
  for (size_t at = 8; rc == Z_OK && at + 12 <= bytes.size();) {
    const uint64_t length = big_endian_u32(bytes, at);
    if (length > bytes.size() - at - 12) break;
    const std::string_view type = bytes.substr(at + 4, 4);
    if (type == "IEND") break;
    if (type == "IDAT") {
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data() + at + 8));
      z.avail_in = static_cast<uInt>(length);
      // A full output block may leave more to come from input already taken.
      do {
        z.next_out = scratch.data();
        z.avail_out = static_cast<uInt>(scratch.size());
        rc = inflate(&z, Z_NO_FLUSH);
        inflated += scratch.size() - z.avail_out;
        if (rc == Z_BUF_ERROR) rc = Z_OK;  // no progress: this chunk's input is spent
      } while (rc == Z_OK && (z.avail_in > 0 || z.avail_out == 0) && inflated <= limit);
      if (inflated > limit) break;
    }
    at += 12 + length;
  }
  inflateEnd(&z);
  if (inflated <= limit) return Status();
  return Status::invalid_argument("its compressed pixel data inflates past " +
                                  std::to_string(limit) + " bytes, where its " +
                                  std::to_string(width) + "x" + std::to_string(height) +
                                  " pixels take " + std::to_string(expected));
}

}  // namespace fp
