// A device folder of many files (issue 15): listing and streaming 100,000 pictures
// through the decoder in batches keeps memory at one batch, not the folder.
//
//   fp-bench folder_stream --files 100000 --batch 256
//
// Writes tiny 28x28 PNGs into a temporary folder (removed afterwards), then reports
// the time to list and to decode everything a batch at a time, and the process's peak
// resident memory before and after, next to what the decoded folder would take whole.
#include <fmt/format.h>
#include <stb_image_write.h>
#include <torch/torch.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>

#include "bench_util.h"
#include "benchmarks.h"
#include "config/cli_checks.h"
#include "data/file_decoder.h"
#include "data/folder_source.h"
#include "util/compute_threads.h"
#include "util/memory.h"

namespace {

double peak_mb() { return static_cast<double>(fp::peak_rss_bytes()) / (1024.0 * 1024.0); }

}  // namespace

int fp::bench::folder_stream(int argc, char** argv) {
  CLI::App app{"List and stream a large folder of pictures through the decoder",
               "fp-bench folder_stream"};
  int64_t files = 100000, batch = 256;
  app.add_option("--files", files, "pictures in the folder")->capture_default_str();
  app.add_option("--batch", batch, "files decoded at a time")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  set_compute_threads(1);

  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("fp_bench_folder_" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::vector<uint8_t> pixels(28 * 28);
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < files; ++i) {
    for (size_t p = 0; p < pixels.size(); ++p) pixels[p] = static_cast<uint8_t>((i * 7 + p) % 251);
    const fs::path sub = dir / std::to_string(i / 1000);  // 1,000 per subfolder
    if (i % 1000 == 0) fs::create_directories(sub);
    stbi_write_png((sub / (std::to_string(i) + ".png")).c_str(), 28, 28, 1, pixels.data(), 28);
  }
  const double write_s = seconds_since(t0);
  const double before = peak_mb();

  fp::ModelSpec spec;
  spec.input = fp::fashion_mnist_input_spec();
  t0 = std::chrono::steady_clock::now();
  auto listing = fp::list_folder(dir.string());
  const double list_s = seconds_since(t0);
  if (!listing.ok()) {
    fmt::print(stderr, "{}\n", listing.status().to_string());
    return 1;
  }
  const double after_list = peak_mb();
  int64_t decoded = 0;
  double checksum = 0;
  fp::SkipLog skipped;
  t0 = std::chrono::steady_clock::now();
  fp::Status s =
      fp::for_each_batch(listing->items, spec, batch, skipped,
                         [&](const torch::Tensor& x, const std::vector<const fp::FolderItem*>&) {
                           decoded += x.size(0);
                           checksum += x.sum().item<double>();
                           return fp::Status::ok_status();
                         });
  const double stream_s = seconds_since(t0);
  const double after = peak_mb();
  fs::remove_all(dir);
  bench::require_ok(s, "streaming the folder");
  const double whole_mb = static_cast<double>(files) * 28 * 28 * 4 / (1 << 20);
  fmt::print(
      "files {}  batch {}\nwrite {:.1f} s\nlist {:.2f} s ({} items, {} skipped)\n"
      "stream-decode {:.1f} s ({:.0f} files/s, {} decoded, checksum {:.1f})\n"
      "peak RSS: {:.0f} MB before listing, {:.0f} MB after listing, {:.0f} MB after streaming\n"
      "the decoded folder held whole would be {:.0f} MB of inputs\n",
      files, batch, write_s, list_s, listing->items.size(), listing->skipped.count, stream_s,
      decoded / stream_s, decoded, checksum, before, after_list, after, whole_mb);
  return decoded == files ? 0 : 1;
}
