#include "data/exif_orientation.h"

#include <libexif/exif-data.h>

#include <cstring>
#include <memory>

namespace fp {

namespace {

// The EXIF block of a PNG: the payload of its eXIf chunk (a TIFF header and its entries), or
// empty. Chunks: a 4-byte big-endian length, a 4-byte type, the payload, a 4-byte CRC.
std::string_view png_exif_chunk(std::string_view png) {
  size_t at = 8;  // past the signature
  while (at + 8 <= png.size()) {
    const auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(png[i])); };
    const size_t length = byte(at) << 24 | byte(at + 1) << 16 | byte(at + 2) << 8 | byte(at + 3);
    const std::string_view type = png.substr(at + 4, 4);
    if (length > png.size() - at - 8) return {};
    if (type == "eXIf") return png.substr(at + 8, length);
    if (type == "IDAT" || type == "IEND") return {};  // eXIf comes before the pixels
    at += 12 + length;
  }
  return {};
}

int orientation_of(ExifData* data) {
  if (!data) return 1;
  ExifEntry* entry = exif_data_get_entry(data, EXIF_TAG_ORIENTATION);
  if (!entry || entry->format != EXIF_FORMAT_SHORT || entry->components < 1 || !entry->data)
    return 1;
  const int orientation = exif_get_short(entry->data, exif_data_get_byte_order(data));
  return orientation >= 1 && orientation <= 8 ? orientation : 1;
}

}  // namespace

int exif_orientation(std::string_view file_bytes) {
  static constexpr std::string_view kJpeg("\xFF\xD8\xFF", 3), kPng("\x89PNG\r\n\x1A\n", 8);
  std::string png_block;  // a PNG's TIFF block behind the "Exif\0\0" header libexif expects
  std::string_view block;
  if (file_bytes.substr(0, 3) == kJpeg) {
    block = file_bytes;  // libexif finds the APP1 segment among the markers
  } else if (file_bytes.substr(0, 8) == kPng) {
    const std::string_view tiff = png_exif_chunk(file_bytes);
    if (tiff.empty()) return 1;
    png_block.assign("Exif\0\0", 6);
    png_block.append(tiff);
    block = png_block;
  } else {
    return 1;
  }
  std::unique_ptr<ExifData, void (*)(ExifData*)> data(exif_data_new(), exif_data_unref);
  if (!data) return 1;
  exif_data_load_data(data.get(), reinterpret_cast<const unsigned char*>(block.data()),
                      static_cast<unsigned int>(block.size()));
  return orientation_of(data.get());
}

std::vector<uint8_t> orient_pixels(const uint8_t* pixels, int64_t& h, int64_t& w, int64_t channels,
                                   int orientation) {
  // Each orientation as a transposition, then mirrored columns and rows of the stored picture.
  struct Turn {
    bool transpose, mirror_x, mirror_y;
  };
  static constexpr Turn kTurns[9] = {
      {false, false, false}, {false, false, false}, {false, true, false},
      {false, true, true},   {false, false, true},  {true, false, false},
      {true, false, true},   {true, true, true},    {true, true, false}};
  const Turn turn = kTurns[orientation >= 1 && orientation <= 8 ? orientation : 1];
  const int64_t in_h = h, in_w = w;
  const int64_t out_h = turn.transpose ? in_w : in_h, out_w = turn.transpose ? in_h : in_w;
  std::vector<uint8_t> out(static_cast<size_t>(in_h * in_w * channels));
  for (int64_t y = 0; y < out_h; ++y) {
    for (int64_t x = 0; x < out_w; ++x) {
      int64_t sx = turn.transpose ? y : x, sy = turn.transpose ? x : y;  // shown at (x, y)
      if (turn.mirror_x) sx = in_w - 1 - sx;
      if (turn.mirror_y) sy = in_h - 1 - sy;
      std::memcpy(&out[static_cast<size_t>((y * out_w + x) * channels)],
                  &pixels[static_cast<size_t>((sy * in_w + sx) * channels)],
                  static_cast<size_t>(channels));
    }
  }
  h = out_h;
  w = out_w;
  return out;
}

}  // namespace fp
