// Whole-file reads and writes (util/file_io.h): bytes kept exactly, and errors that name
// what and where.
#include <catch2/catch.hpp>
#include <string>

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
}

TEST_CASE("file errors name what was read or written and where") {
  TempDir dir;
  auto missing = fp::read_file(dir.file("absent.toml"), "scenario file");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == fp::Status::Code::kNotFound);
  CHECK(missing.status().message() ==
        "scenario file " + dir.file("absent.toml") + " cannot be opened");
  const std::string nowhere = dir.file("no/such/dir/out.csv");
  auto written = fp::write_file(nowhere, "x", "report file");
  REQUIRE_FALSE(written.ok());
  CHECK(written.code() == fp::Status::Code::kIOError);
  CHECK_THAT(written.message(), Catch::StartsWith("writing report file " + nowhere + ": "));
}
