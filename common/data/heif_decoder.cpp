#include "data/heif_decoder.h"

#include <libheif/heif.h>

#include <array>
#include <memory>
#include <string>

namespace fp {

bool looks_like_heif(std::string_view b) {
  // A box: 4-byte size, "ftyp", the 4-byte major brand, a version, compatible brands.
  if (b.size() < 16 || b.substr(4, 4) != "ftyp") return false;
  static constexpr std::array<std::string_view, 8> kBrands = {"heic", "heix", "heim", "heis",
                                                              "hevc", "hevx", "mif1", "msf1"};
  for (auto brand : kBrands)
    if (b.substr(8, 4) == brand) return true;
  return false;
}

namespace {

Status heif_failure(const heif_error& e) {
  return Status::corruption(std::string("not a readable HEIF picture (") +
                            (e.message ? e.message : "unknown") + ")");
}

}  // namespace

Result<DecodedPicture> decode_heif(std::string_view bytes, int64_t channels, int64_t max_pixels) {
  if (channels != 1 && channels != 3)
    return Status::invalid_argument("HEIF pictures decode to 1 or 3 channels");
  std::unique_ptr<heif_context, void (*)(heif_context*)> ctx(heif_context_alloc(),
                                                             heif_context_free);
  if (!ctx) return Status::internal("libheif: no context");
  heif_error e =
      heif_context_read_from_memory_without_copy(ctx.get(), bytes.data(), bytes.size(), nullptr);
  if (e.code != heif_error_Ok) return heif_failure(e);
  heif_image_handle* raw_handle = nullptr;
  e = heif_context_get_primary_image_handle(ctx.get(), &raw_handle);
  if (e.code != heif_error_Ok) return heif_failure(e);
  std::unique_ptr<heif_image_handle, void (*)(const heif_image_handle*)> handle(
      raw_handle, heif_image_handle_release);
  const int64_t w = heif_image_handle_get_width(handle.get());
  const int64_t h = heif_image_handle_get_height(handle.get());
  if (w < 1 || h < 1) return Status::corruption("not a readable HEIF picture (no size)");
  if (w * h > max_pixels) {
    return Status::invalid_argument("too large (" + std::to_string(w) + "x" + std::to_string(h) +
                                    " pixels; at most " + std::to_string(max_pixels) +
                                    " are decoded)");
  }
  // Decoded as shown: libheif applies the file's rotation and mirroring by default.
  heif_image* raw_image = nullptr;
  e = heif_decode_image(handle.get(), &raw_image, heif_colorspace_RGB, heif_chroma_interleaved_RGB,
                        nullptr);
  if (e.code != heif_error_Ok) return heif_failure(e);
  std::unique_ptr<heif_image, void (*)(const heif_image*)> image(raw_image, heif_image_release);
  int stride = 0;
  const uint8_t* rgb =
      heif_image_get_plane_readonly(image.get(), heif_channel_interleaved, &stride);
  const int64_t shown_w = heif_image_get_width(image.get(), heif_channel_interleaved);
  const int64_t shown_h = heif_image_get_height(image.get(), heif_channel_interleaved);
  if (!rgb || shown_w < 1 || shown_h < 1) return Status::corruption("HEIF picture without pixels");
  DecodedPicture out{shown_h, shown_w, channels, {}};
  out.pixels.resize(static_cast<size_t>(shown_h * shown_w * channels));
  for (int64_t y = 0; y < shown_h; ++y) {
    const uint8_t* row = rgb + y * stride;
    uint8_t* to = &out.pixels[static_cast<size_t>(y * shown_w * channels)];
    for (int64_t x = 0; x < shown_w; ++x) {
      const uint8_t* p = row + 3 * x;
      if (channels == 3) {
        to[3 * x] = p[0];
        to[3 * x + 1] = p[1];
        to[3 * x + 2] = p[2];
      } else {
        // ITU-R BT.601 luma, as stb makes grey from a colour picture.
        to[x] = static_cast<uint8_t>((p[0] * 77 + p[1] * 150 + p[2] * 29) >> 8);
      }
    }
  }
  return out;
}

}  // namespace fp
