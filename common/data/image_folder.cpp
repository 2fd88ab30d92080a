#include "data/image_folder.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <map>
#include <vector>

#include "data/file_decoder.h"
#include "data/folder_source.h"
#include "util/text.h"

namespace fp {
namespace fs = std::filesystem;

namespace {

bool hidden(const fs::path& p) { return p.filename().string().rfind('.', 0) == 0; }

// The pictures under one class folder in path order, listed as a device lists its own
// folder (folder_source.h: hidden files and folders left out); files of another kind
// (recordings, IDX, unknown types) counted in `skipped`.
Result<std::vector<std::string>> class_pictures(const fs::path& dir, int64_t& skipped) {
  FP_ASSIGN_OR_RETURN(FolderListing listing, list_folder(dir.string()));
  skipped += listing.skipped.count;
  std::vector<std::string> files;
  for (const auto& item : listing.items) {
    if (file_kind(item.path) == FileKind::kImage) {
      files.push_back(item.path);
    } else if (item.index <= 0) {  // an IDX file once, not once per image in it
      ++skipped;
    }
  }
  return files;
}

// Whether `inner` is `outer` or inside it (both canonical).
bool within(const fs::path& inner, const fs::path& outer) {
  auto [o, i] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
  return o == outer.end();
}

// A class folder that is a link to the image folder (or a folder above it), or to another
// class's folder: its pictures were read again under its own name (`ln -s . all` made a
// class "all" holding every picture of every class).
Status check_classes_apart(const std::string& dir, const std::vector<fs::path>& classes) {
  std::error_code ec;
  const fs::path root = fs::canonical(dir, ec);
  if (ec) return Status::io_error(dir + ": " + ec.message());
  std::vector<fs::path> real;
  for (const auto& folder : classes) {
    real.push_back(fs::canonical(folder, ec));
    if (ec) return Status::io_error(folder.string() + ": " + ec.message());
    if (within(root, real.back()))
      return Status::invalid_argument(
          "image folder class '" + folder.filename().string() + "' (" + folder.string() +
          ") is the image folder itself or a folder above it (a link to " + real.back().string() +
          "): every picture would be read again under it; remove the link");
  }
  for (size_t a = 0; a < real.size(); ++a)
    for (size_t b = 0; b < real.size(); ++b)
      if (a != b && within(real[a], real[b]))
        return Status::invalid_argument("image folder classes '" + classes[a].filename().string() +
                                        "' and '" + classes[b].filename().string() +
                                        "' hold the same pictures (" + real[a].string() + " is " +
                                        (real[a] == real[b] ? "" : "inside ") + real[b].string() +
                                        "): a picture has one class; remove the link");
  return Status::ok_status();
}

}  // namespace

Result<Dataset> load_image_folder(const std::string& dir, const ImageFolderShape& shape,
                                  int64_t* skipped) {
  if (shape.channels != 1 && shape.channels != 3)
    return Status::invalid_argument("image folder: channels must be 1 or 3");
  if (shape.height < 1 || shape.width < 1)
    return Status::invalid_argument("image folder: height and width must be at least 1");
  std::error_code ec;
  if (dir.empty() || !fs::is_directory(dir, ec))
    return Status::not_found("image folder '" + dir + "' does not exist or is not a folder");
  std::vector<fs::path> classes;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!hidden(it->path()) && it->is_directory(ec)) classes.push_back(it->path());
  }
  if (ec) return Status::io_error(dir + ": cannot list (" + ec.message() + ")");
  std::sort(classes.begin(), classes.end());
  FP_RETURN_IF_ERROR(check_classes_apart(dir, classes));
  if (classes.size() < 2) {
    return Status::invalid_argument("image folder " + dir + " holds " +
                                    std::to_string(classes.size()) +
                                    " class folder(s): it needs one folder per class, at least "
                                    "two (" +
                                    dir + "/<class>/<picture>)");
  }
  ModelSpec spec;
  spec.in_channels = shape.channels;
  spec.height = shape.height;
  spec.width = shape.width;
  spec.input = image_folder_input_spec();
  Dataset out;
  int64_t other = 0, pictures = 0;
  std::vector<std::vector<std::string>> listed;
  for (const auto& folder : classes) {
    // A class's name goes into the model's metadata and every report: text, or the model
    // could not be saved after the training (a folder named in Latin-1 ended a trained
    // `fp-coordinator train` with the JSON library's "incomplete UTF-8 string").
    if (std::string why = text_problem(folder.filename().string()); !why.empty()) {
      return Status::invalid_argument(
          "image folder class " + escape_text(folder.filename().string()) + " (" +
          escape_text(folder.string()) + "): its name " + why + ": rename the folder");
    }
    FP_ASSIGN_OR_RETURN(std::vector<std::string> files, class_pictures(folder, other));
    if (files.empty()) {
      return Status::invalid_argument("image folder class '" + folder.filename().string() + "' (" +
                                      folder.string() + ") holds no picture (" + kPictureFormats +
                                      ")");
    }
    pictures += static_cast<int64_t>(files.size());
    listed.push_back(std::move(files));
  }
  // Held in memory whole, as the built-in data sets are: refused before decoding beyond that.
  const int64_t bytes = pictures * shape.channels * shape.height * shape.width * 4;
  if (bytes > kMaxImageFolderBytes) {
    return Status::invalid_argument(fmt::format(
        "image folder {}: {} pictures of {}x{}x{} are {:.1f} GiB as model inputs, above the "
        "{} GiB held in memory: use fewer pictures or a smaller height and width",
        dir, pictures, shape.channels, shape.height, shape.width,
        static_cast<double>(bytes) / (1 << 30), kMaxImageFolderBytes >> 30));
  }
  std::vector<torch::Tensor> inputs;
  std::vector<int64_t> labels;
  // Groups when every picture is in a subfolder of its class: its name, across classes.
  std::vector<std::string> group_of;
  bool grouped = true;
  for (size_t c = 0; c < classes.size(); ++c) {
    out.class_names.push_back(classes[c].filename().string());
    for (const auto& f : listed[c]) {
      FP_ASSIGN_OR_RETURN(torch::Tensor x, decode_image_file(f, spec));
      inputs.push_back(x);
      labels.push_back(static_cast<int64_t>(c));
      const fs::path within = fs::path(f).lexically_relative(classes[c]);
      grouped = grouped && std::distance(within.begin(), within.end()) > 1;
      group_of.push_back(grouped ? within.begin()->string() : "");
    }
  }
  if (skipped) *skipped = other;
  out.inputs = torch::stack(inputs);
  out.labels = torch::tensor(labels, torch::kLong);
  if (grouped) {
    std::map<std::string, int64_t> ids;  // group names in name order
    for (const auto& g : group_of) ids.emplace(g, 0);
    for (auto& [name, id] : ids) {
      id = static_cast<int64_t>(out.group_names.size());
      out.group_names.push_back(name);
    }
    std::vector<int64_t> groups;
    for (const auto& g : group_of) groups.push_back(ids.at(g));
    out.groups = torch::tensor(groups, torch::kLong);
  }
  return out;
}

std::string skipped_files_note(const std::string& dir, int64_t skipped) {
  return std::to_string(skipped) + " file(s) in " + dir + " left out: not pictures (" +
         kPictureFormats + "), or links to folders and pipes, which are not read";
}

}  // namespace fp
