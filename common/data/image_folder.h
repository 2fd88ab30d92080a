// A labeled picture data set of one's own, laid out one folder per class (torchvision's
// ImageFolder convention): DIR/<class name>/**/<picture>. A researcher's data (CK+'s faces
// by emotion, a phone photo study) become a scenario's pool: `[data] dataset =
// "image-folder"` (simulation/scenario.h). Pictures go through the same front end a
// device's own pictures do (file_decoder.h), so the general model's spec tells devices
// how to read theirs.
#pragma once

#include <cstdint>
#include <string>

#include "data/dataset.h"
#include "data/file_decoder.h"  // image_folder_input_spec
#include "models/model_spec.h"
#include "util/status.h"

namespace fp {

// The most bytes an image folder's decoded pictures may take (float32 inputs), held in
// memory whole as the built-in data sets are: 4 GiB (100,000 RGB pictures of 64x64 are 4.6).
constexpr int64_t kMaxImageFolderBytes = int64_t{4} << 30;

// The model input an image folder is read into: 1 (grey) or 3 (RGB) channels, resized to
// height x width, pixels scaled to [0, 1].
struct ImageFolderShape {
  int64_t channels = 1;
  int64_t height = 28;
  int64_t width = 28;
};

// Every picture (PNG, JPEG, HEIC) under each class folder of `dir`, recursively: classes in
// the order of their folder names, pictures in the order of their paths, so a seed draws
// the same individuals on every machine. When every picture sits in a subfolder of its
// class (DIR/<class>/<person>/...: CK+'s subjects), those subfolders are the data set's
// groups, one name across classes (group_names in name order): a scenario's natural
// partition makes each an individual, as FSDD's speakers. Hidden files and folders are left out;
// files of another kind are left out and counted in `skipped` (may be null). Inputs [N, channels,
// height, width], labels the class index, class_names the folder names. A missing folder, fewer
// than two classes, a class without pictures, or a picture that cannot be read is an error naming
// it (a data set does not silently lose samples), as is a folder whose pictures would take more
// than kMaxImageFolderBytes.
Result<Dataset> load_image_folder(const std::string& dir, const ImageFolderShape& shape,
                                  int64_t* skipped = nullptr);

// What a caller warns of when load_image_folder skipped files: "N file(s) in DIR are not
// pictures (PNG, JPEG, HEIC): left out".
std::string skipped_files_note(const std::string& dir, int64_t skipped);

}  // namespace fp
