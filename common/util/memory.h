// The process's own memory: its peak, as reported in telemetry and benchmarks, and
// faulting fresh pages in at once; and what the machine has left.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fp {

// Peak resident set size of this process in bytes. Reads VmHWM from /proc/self/status,
// which belongs to this process's own address space (getrusage's ru_maxrss would also
// count the parent's pages of a process started with vfork+exec); falls back to
// getrusage where /proc is missing. Every virtual agent's report asks, so the file stays
// open and is read again from its start (opening it and reading it through a stream cost
// about three times the read on a busy host); thread-safe.
uint64_t peak_rss_bytes();

// Memory the machine can give without swapping, in bytes (MemAvailable of /proc/meminfo);
// 0 where it cannot be read.
uint64_t available_memory_bytes();

// Maps the whole pages inside [data, data + bytes) writable in one system call
// (MADV_POPULATE_WRITE, Linux 5.14+), where writing them one by one would fault once a page
// — dear on a virtual machine (about 11 us a page on the development VM). For a large,
// fresh buffer about to be filled. Best effort: false where the kernel cannot (then nothing
// happened).
bool prefault_for_writing(void* data, size_t bytes);

}  // namespace fp
