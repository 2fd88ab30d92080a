// Names the calling thread, so `top -H`, `perf report --sort comm` and gdb tell a
// framework's threads apart (agent loops, task workers, the coordinator's loop and
// commit worker). Linux keeps 15 characters; longer names are cut. Best effort: a
// platform without thread names ignores it.
#pragma once

namespace fp {

void set_thread_name(const char* name);

}  // namespace fp
