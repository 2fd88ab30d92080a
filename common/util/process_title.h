// A process's title: its command line as `ps`, `pgrep -f` and /proc/<pid>/cmdline show
// it. A process forked without exec (simulation/host_zygote.h) would otherwise show the
// command line of the program it was forked from.
//
// Linux reads a command line from the memory the arguments came in, which the environment
// strings follow. As PostgreSQL does, the title is written over both, the environment
// having been copied to the heap first; a title longer than the arguments shows in full
// as long as it fits both.
#pragma once

#include <string>

namespace fp {

// Remembers where main()'s arguments and the environment strings after them lie. Call at
// the top of main(), before anything changes the environment.
void save_process_title_area(int argc, char** argv);

// Shows `title` as this process's command line, cut to the saved area's size; the
// environment stays readable through getenv() and environ. False when no area was saved.
// Not thread-safe: for a process's first steps.
bool set_process_title(const std::string& title);

}  // namespace fp
