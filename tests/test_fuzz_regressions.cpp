// Replays every fuzz seed and every input a fuzzer ever crashed on (fuzz/regressions/)
// through the same checks as the libFuzzer harnesses, in the normal g++ build.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "fuzz_targets.h"
#include "temp_dir.h"
#include "test_paths.h"

namespace fs = std::filesystem;

namespace {

// The files of fuzz/<kind>/<harness>/ (README files aside), sorted.
std::vector<std::string> inputs(const std::string& kind, const std::string& harness) {
  std::vector<std::string> out;
  const fs::path dir = fs::path(FP_SOURCE_DIR) / "fuzz" / kind / harness;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != "README.md") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

const uint8_t* u8(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

}  // namespace

TEST_CASE("fuzz_frame seeds decode, and every seed and kept crash input passes its checks",
          "[fuzz]") {
  auto seeds = inputs("seeds", "fuzz_frame");
  REQUIRE(seeds.size() == std::variant_size_v<fp::proto::Message>);  // one per message type
  for (const auto& path : seeds) {
    INFO(path);
    const std::string b = fp::testing::read_file(path);
    REQUIRE(fp::proto::decode(b, fp::proto::kMaxCoordinatorFrameBytes).ok());
  }
  auto all = seeds;
  for (const auto& path : inputs("regressions", "fuzz_frame")) all.push_back(path);
  for (const auto& path : all) {
    INFO(path);
    const std::string b = fp::testing::read_file(path);
    CHECK(fp::fuzz::check_frame(u8(b), b.size()) == "");
  }
}

TEST_CASE("fuzz_artifact seeds parse, and every seed and kept crash input passes its checks",
          "[fuzz]") {
  auto seeds = inputs("seeds", "fuzz_artifact");
  REQUIRE(seeds.size() == 4);  // mlp and cnn, whole and unhashed
  for (const auto& path : seeds) {
    INFO(path);
    const std::string b = fp::testing::read_file(path);
    REQUIRE(b.size() > 1);
    std::string artifact = b.substr(1);
    if (b[0] == 0) {
      auto d = fp::sha256(artifact);
      artifact.append(reinterpret_cast<const char*>(d.data()), d.size());
    }
    auto parsed = fp::parse_artifact(artifact);
    REQUIRE(parsed.ok());
    CHECK(parsed->meta.at("dataset") == "fsdd");
    CHECK_FALSE(parsed->tensors.empty());
  }
  auto all = seeds;
  for (const auto& path : inputs("regressions", "fuzz_artifact")) all.push_back(path);
  for (const auto& path : all) {
    INFO(path);
    const std::string b = fp::testing::read_file(path);
    CHECK(fp::fuzz::check_artifact(u8(b), b.size()) == "");
  }
}
