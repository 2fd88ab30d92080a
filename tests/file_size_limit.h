// A full disk in a test, as the kernel's limit on the size of the files this process writes:
// a write past it fails (EFBIG) where SIGXFSZ would end the process.
#pragma once

#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstdint>

namespace fp::testing {

// fn() with files limited to `bytes`; the limit and SIGXFSZ's handling restored after.
template <typename Fn>
auto with_file_size_limit(uint64_t bytes, Fn fn) -> decltype(fn()) {
  struct rlimit before {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &before) == 0);
  struct rlimit small = before;
  small.rlim_cur = static_cast<rlim_t>(bytes);
  auto* previous = std::signal(SIGXFSZ, SIG_IGN);
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  struct Restore {
    struct rlimit limit;
    void (*handler)(int);
    ~Restore() {
      ::setrlimit(RLIMIT_FSIZE, &limit);
      std::signal(SIGXFSZ, handler);
    }
  } restore{before, previous};
  return fn();
}

}  // namespace fp::testing
