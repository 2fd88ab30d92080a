// The data sets fineprune reads, by the names configurations and devices use: a name that
// is none of them is a typo to refuse where it is written, not a campaign no device joins.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

namespace fp {

// "fashion-mnist", "fsdd" and "image-folder" (one's own labeled pictures, a folder per class).
inline const std::vector<std::string>& dataset_names() {
  static const std::vector<std::string> names = {"fashion-mnist", "fsdd", "image-folder"};
  return names;
}
inline bool known_dataset(const std::string& name) {
  const auto& names = dataset_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

// The words an error about another name ends with: "\"fashion-mnist\", \"fsdd\" or ...".
inline std::string known_datasets_words() {
  const auto& names = dataset_names();
  std::string words;
  for (size_t i = 0; i < names.size(); ++i)
    words += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + ("\"" + names[i] + "\"");
  return words;
}

}  // namespace fp
