// Whole-file reads and writes (util/file_io.h): bytes kept exactly, files replaced whole,
// and errors that name what and where.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "temp_dir.h"
#include "util/file_io.h"

using fp::testing::TempDir;

TEST_CASE("a file written whole reads back byte for byte, and a rewrite truncates it") {
  TempDir dir;
  const std::string path = dir.file("blob.bin");
  const std::string bytes("a\0b\r\n\xff tail", 10);
  REQUIRE(fp::write_file(path, bytes).ok());
  auto back = fp::read_file(path);
  REQUIRE(back.ok());
  CHECK(*back == bytes);
  REQUIRE(fp::write_file(path, "short").ok());
  CHECK(fp::read_file(path).value() == "short");
  // Sizes around the reader's 64 KB steps, and none.
  for (size_t size : {size_t{0}, size_t{1}, size_t{65535}, size_t{65536}, size_t{200001}}) {
    INFO(size);
    std::string big(size, '\0');
    for (size_t i = 0; i < size; ++i) big[i] = static_cast<char>((i * 131) % 251);
    REQUIRE(fp::write_file(path, big).ok());
    CHECK(fp::read_file(path).value() == big);
  }
  // A file whose size stat does not know: read to its end all the same.
  auto status = fp::read_file("/proc/self/status");
  REQUIRE(status.ok());
  CHECK(status->find("VmHWM:") != std::string::npos);
}

TEST_CASE("file errors name what was read or written and where") {
  TempDir dir;
  auto missing = fp::read_file(dir.file("absent.toml"), "scenario file");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == fp::Status::Code::kNotFound);
  CHECK(missing.status().message() ==
        "scenario file " + dir.file("absent.toml") + " cannot be opened");
  auto folder = fp::read_file(dir.path.string(), "scenario file");
  REQUIRE_FALSE(folder.ok());
  CHECK(folder.status().code() == fp::Status::Code::kIOError);
  CHECK_THAT(folder.status().message(),
             Catch::StartsWith("reading scenario file " + dir.path.string() + ": "));
  const std::string nowhere = dir.file("no/such/dir/out.csv");
  auto written = fp::write_file(nowhere, "x", "report file");
  REQUIRE_FALSE(written.ok());
  CHECK(written.code() == fp::Status::Code::kIOError);
  CHECK_THAT(written.message(), Catch::StartsWith("writing report file " + nowhere + ": "));
}

namespace {

// The folder's entries, by name.
std::vector<std::string> entries(const TempDir& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.path))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE("a replaced file is the old one or the new one, and a failure keeps the old") {
  TempDir dir;
  const std::string path = dir.file("model.fpm");
  for (bool durable : {true, false}) {
    INFO("durable " << durable);
    REQUIRE(fp::replace_file(path, "first version", "model", durable).ok());
    CHECK(fp::read_file(path).value() == "first version");
    REQUIRE(fp::replace_file(path, std::string("new\0bytes", 9), "model", durable).ok());
    CHECK(fp::read_file(path).value() == std::string("new\0bytes", 9));
    CHECK(entries(dir) == std::vector<std::string>{"model.fpm"});  // no scratch file left
  }
  // Renaming over a folder fails: the folder stays as it was, and the scratch file goes.
  const std::string folder = dir.file("taken");
  std::filesystem::create_directories(folder + "/inside");
  auto over_folder = fp::replace_file(folder, "bytes", "export");
  REQUIRE_FALSE(over_folder.ok());
  CHECK(over_folder.code() == fp::Status::Code::kIOError);
  CHECK_THAT(over_folder.message(),
             Catch::StartsWith("export " + folder + ": cannot rename " + folder + ".tmp."));
  CHECK(std::filesystem::is_directory(folder + "/inside"));
  CHECK(entries(dir) == std::vector<std::string>{"model.fpm", "taken"});
  // A folder that does not exist: nothing made.
  const std::string nowhere = dir.file("no/such/dir/out.csv");
  auto missing = fp::replace_file(nowhere, "x", "report file");
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.message(), Catch::StartsWith("report file " + nowhere + ": cannot create "));
  CHECK_FALSE(std::filesystem::exists(dir.file("no")));
}
