// The shape an image folder's pictures are decoded to, checked in one place for the
// scenario's [data] and the coordinator's [train] (torch-free: the scenario reader is).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace fp {

constexpr int64_t kMaxImageSide = 1024;

// The first of `channels` (1: grey, 3: RGB), `height`, `width` (1 to kMaxImageSide) out of
// range: its key and why ("must be 1 or 3"), or nothing when all are right.
struct ImageShapeProblem {
  std::string key, why;
};
inline std::optional<ImageShapeProblem> image_shape_problem(int64_t channels, int64_t height,
                                                            int64_t width) {
  const std::string sides = "must be from 1 to " + std::to_string(kMaxImageSide);
  if (channels != 1 && channels != 3) return ImageShapeProblem{"channels", "must be 1 or 3"};
  if (height < 1 || height > kMaxImageSide) return ImageShapeProblem{"height", sides};
  if (width < 1 || width > kMaxImageSide) return ImageShapeProblem{"width", sides};
  return std::nullopt;
}

}  // namespace fp
