#include "data/exif_orientation.h"

#include <libexif/exif-data.h>

#include <cstring>
#include <memory>

namespace fp {

int exif_orientation(const std::string& path) {
  std::unique_ptr<ExifData, void (*)(ExifData*)> data(exif_data_new_from_file(path.c_str()),
                                                      exif_data_unref);
  if (!data) return 1;
  ExifEntry* entry = exif_data_get_entry(data.get(), EXIF_TAG_ORIENTATION);
  if (!entry || entry->format != EXIF_FORMAT_SHORT || entry->components < 1 || !entry->data)
    return 1;
  const int orientation = exif_get_short(entry->data, exif_data_get_byte_order(data.get()));
  return orientation >= 1 && orientation <= 8 ? orientation : 1;
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
