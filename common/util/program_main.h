// A program's main body behind one last catch: an exception that escapes it (a bug, or a
// library error that no Status caught) ends the program with one line that names it and
// exit code 1, instead of std::terminate's abort.
#pragma once

#include <cstdio>
#include <exception>
#include <functional>
#include <string>
#include <string_view>

namespace fp {

// what() of an escaped exception, cut before a LibTorch backtrace ("Exception raised
// from ..."), which says nothing to a user and many lines to a log; a thread that could not
// be started (EAGAIN) says which limits may have run out.
std::string exception_summary(const std::exception& e);

// What to say when this process runs under a limit on its virtual memory (`ulimit -v`,
// systemd's LimitAS=): nothing without one. LibTorch's BLAS (OpenBLAS) retries an
// allocation that fails there for ever instead of failing (a device under such a cap spun at
// full CPU inside a task: session 53's audit), and LibTorch maps far more than it touches;
// a cgroup's cap (MemoryMax=) ends the process instead.
std::string address_space_limit_warning();

// The subcommand a command line names: its first argument after the program that does not
// start with '-' ("" when there is none). An option with a value before the subcommand
// (`--log-level debug run`) makes that value the first such argument.
std::string_view subcommand_of(char** argv);

// Runs `body` and returns its exit code; logs address_space_limit_warning() first; prints
// "<program>: <summary>" to `err` and returns 1 when it throws. The log goes to stderr (spdlog's
// default is stdout), so that what a command prints for scripts (predict's table, export's CSV) is
// all its stdout holds.
int run_main(const char* program, const std::function<int()>& body, std::FILE* err = stderr);

}  // namespace fp
