// A small labeled image folder for tests (data/image_folder.h): one folder per class of
// 16x16 grey PNGs, horizontal stripes, vertical stripes and a checkerboard, with seeded
// noise, so a small CNN learns the classes in a few epochs.
#pragma once

#include <stb_image_write.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace fp::testing {

inline const std::vector<std::string> kPatternClasses = {"checker", "horizontal", "vertical"};

// Writes `per_class` pictures of each pattern under dir/<class>/ (made if missing); with
// `persons`, picture i of a class under dir/<class>/person-<i % persons>/ instead.
inline bool write_pattern_folder(const std::string& dir, int per_class, uint32_t seed = 3,
                                 int persons = 0) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(-60, 60);
  for (size_t c = 0; c < kPatternClasses.size(); ++c) {
    const std::filesystem::path folder = std::filesystem::path(dir) / kPatternClasses[c];
    std::filesystem::create_directories(folder);
    for (int i = 0; i < per_class; ++i) {
      std::vector<uint8_t> pixels(16 * 16);
      for (int y = 0; y < 16; ++y) {
        for (int x = 0; x < 16; ++x) {
          const bool on = c == 0 ? ((x / 2) + (y / 2)) % 2 : c == 1 ? (y / 2) % 2 : (x / 2) % 2;
          const int v = (on ? 200 : 40) + noise(rng);
          pixels[static_cast<size_t>(y * 16 + x)] = static_cast<uint8_t>(std::clamp(v, 0, 255));
        }
      }
      std::filesystem::path in = folder;
      if (persons > 0) in /= "person-" + std::to_string(i % persons);
      std::filesystem::create_directories(in);
      const std::string name = (in / (std::to_string(1000 + i) + ".png")).string();
      if (!stbi_write_png(name.c_str(), 16, 16, 1, pixels.data(), 16)) return false;
    }
  }
  return true;
}

}  // namespace fp::testing
