// The data sets fineprune reads, by the names configurations and devices use: a name that
// is none of them is a typo to refuse where it is written, not a campaign no device joins.
#pragma once

#include <string>

namespace fp {

// "fashion-mnist", "fsdd" or "image-folder" (one's own labeled pictures, a folder per class).
inline bool known_dataset(const std::string& name) {
  return name == "fashion-mnist" || name == "fsdd" || name == "image-folder";
}

// The words an error about another name ends with.
inline std::string known_datasets_words() {
  return "\"fashion-mnist\", \"fsdd\" or \"image-folder\"";
}

}  // namespace fp
