// Status and Result<T> (util/status.h): a Result holds a value or the error saying why not,
// and asking one that holds an error for its value fails loudly, naming that error.
#include <catch2/catch.hpp>
#include <string>

#include "util/status.h"

namespace {

fp::Result<std::string> parse_name(bool good) {
  if (!good) return fp::Status::invalid_argument("name 'x y' holds a space");
  return std::string("alice");
}

}  // namespace

TEST_CASE("a Result gives its value, or throws naming its error when it holds none") {
  auto good = parse_name(true);
  REQUIRE(good.ok());
  CHECK(good.value() == "alice");
  CHECK(*good == "alice");
  CHECK(good->size() == 5);
  CHECK(std::move(good).value() == "alice");

  auto bad = parse_name(false);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == fp::Status::Code::kInvalidArgument);
  const std::string named = "Invalid argument: name 'x y' holds a space";
  CHECK_THROWS_WITH(bad.value(), Catch::Contains(named));
  CHECK_THROWS_WITH(*bad, Catch::Contains(named));
  CHECK_THROWS_WITH(bad->size(), Catch::Contains(named));
  const auto& const_bad = bad;
  CHECK_THROWS_AS(const_bad.value(), fp::BadResultAccess);
  CHECK_THROWS_AS(std::move(bad).value(), fp::BadResultAccess);
}
