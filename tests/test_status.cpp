// Status and Result<T> (util/status.h): a Result holds a value or the error saying why not,
// and asking one that holds an error for its value fails loudly, naming that error; a
// program's last catch (util/program_main.h) turns what escapes into one line.
#include <catch2/catch.hpp>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <system_error>

#include "util/program_main.h"
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
  // value_or: the value, or the fallback for an error, never a throw.
  CHECK(parse_name(true).value_or("nobody") == "alice");
  CHECK(parse_name(false).value_or("nobody") == "nobody");
  const auto kept = parse_name(true);
  CHECK(kept.value_or("nobody") == "alice");
  CHECK(*kept == "alice");  // a const one is copied from, not moved out of
}

TEST_CASE("an error given context keeps its code; OK stays OK") {
  const fp::Status bad = fp::Status::not_found("no recordings directory at '/x'");
  const fp::Status told = bad.with_context("the fsdd data (--data-dir /x): ");
  CHECK(told.code() == fp::Status::Code::kNotFound);
  CHECK(told.message() == "the fsdd data (--data-dir /x): no recordings directory at '/x'");
  CHECK(fp::Status::ok_status().with_context("anything: ").ok());
  CHECK(fp::Status::ok_status().with_context("anything: ").message().empty());
}

namespace {

std::string run_and_read(const std::function<int()>& body, int& code) {
  std::FILE* err = std::tmpfile();
  REQUIRE(err != nullptr);
  code = fp::run_main("fp-test", body, err);
  std::rewind(err);
  std::string text;
  for (int c; (c = std::fgetc(err)) != EOF;) text += static_cast<char>(c);
  std::fclose(err);
  return text;
}

}  // namespace

TEST_CASE("a program's escaped exception is one line naming it, and exit code 1") {
  int code = -1;
  CHECK(run_and_read([] { return 3; }, code).empty());
  CHECK(code == 3);

  // LibTorch's errors carry a backtrace after their message: cut.
  auto torch_like = [] {
    throw std::runtime_error(
        "Expected 4-dimensional input for 4-dimensional weight [8, 1, 3, 3]\n"
        "Exception raised from check_shape_forward at conv.cpp:1 (most recent call first):\n"
        "frame #0: c10::Error::Error(...)\n");
    return 0;
  };
  CHECK(run_and_read(torch_like, code) ==
        "fp-test: Expected 4-dimensional input for 4-dimensional weight [8, 1, 3, 3]\n");
  CHECK(code == 1);

  auto bad_access = [] {
    fp::Result<int> r = fp::Status::not_found("model abc.fpm");
    return r.value();
  };
  CHECK(run_and_read(bad_access, code) ==
        "fp-test: the value of a Result that holds an error was asked for: Not found: model "
        "abc.fpm\n");
  CHECK(code == 1);

  CHECK(run_and_read([]() -> int { throw 42; }, code) ==
        "fp-test: an unexpected error (not a std::exception)\n");
  CHECK(code == 1);

  // A thread that could not start (ulimit -u reached) said only "Resource temporarily
  // unavailable"; now which limits may have run out. Other system errors stay as they are.
  auto no_thread = []() -> int {
    throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again));
  };
  CHECK(run_and_read(no_thread, code) ==
        "fp-test: Resource temporarily unavailable (a thread or process could not be started: "
        "the limit on this user's processes and threads, ulimit -u, or memory ran out)\n");
  CHECK(code == 1);
  auto denied = []() -> int {
    throw std::system_error(std::make_error_code(std::errc::permission_denied));
  };
  CHECK(run_and_read(denied, code) == "fp-test: Permission denied\n");
}
