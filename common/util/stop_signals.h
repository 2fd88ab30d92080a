// The signals that stop a serving program cleanly (SIGINT, SIGTERM, SIGHUP), taken by one
// thread only. Blocked in every thread (threads inherit the mask of the one that makes
// them) and unblocked in the thread that handles them, a signal that arrives before that
// thread starts waits for it, and one that arrives after it ends is never delivered: a second
// SIGTERM during the shutdown (`timeout` and supervisors send two) killed the coordinator
// with 143 after its clean stop, and one during its start killed it without a word.
#pragma once

namespace fp {

// Blocks them in the calling thread: call before the program makes any thread.
void block_stop_signals();
// Unblocks them in the calling thread, which handles them.
void unblock_stop_signals();

}  // namespace fp
