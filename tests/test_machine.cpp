// The machine description that runs record beside their results: it names the BLAS
// library actually loaded, which changes linear layers' floating-point results.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "util/machine.h"

TEST_CASE("the machine description names the BLAS library this process loaded", "[machine]") {
  // LibTorch's linear layers call BLAS: the library is loaded once a matmul has run.
  (void)torch::mm(torch::ones({2, 2}), torch::ones({2, 2}));
  const std::string blas = fp::loaded_blas();
  REQUIRE_FALSE(blas.empty());
  CHECK(std::filesystem::path(blas).is_absolute());
  CHECK(std::filesystem::exists(blas));
  CHECK_FALSE(std::filesystem::is_symlink(blas));  // the alternative, resolved
  CHECK(blas.find("libblas.so") != std::string::npos);
  const std::string description = fp::machine_description();
  CHECK(description.find(", BLAS " + blas) != std::string::npos);
  CHECK(description.find(" cores") != std::string::npos);
}
