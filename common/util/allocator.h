// glibc's malloc returns large freed blocks to the kernel: blocks above its mmap
// threshold are unmapped on free, and a heap whose free top passes the trim threshold
// is shrunk. A forward pass allocates and frees its activations batch after batch, so
// each batch faulted its memory in again: on a virtual machine, where a page fault is
// costly, half of a pass's time (docs/BENCHMARKS.md, "The allocator"). Every fineprune
// program calls this first thing: blocks up to 32 MB come from the heap and freed memory
// up to 256 MB stays there for the next batch. Peak memory is unchanged; memory after a
// peak is kept for reuse rather than given back.
#pragma once

namespace fp {

constexpr int kMallocMmapThreshold = 32 << 20;  // glibc's maximum through mallopt
constexpr int kMallocTrimThreshold = 256 << 20;

// Sets glibc's M_MMAP_THRESHOLD to 32 MB and M_TRIM_THRESHOLD to 256 MB (the above),
// unless the user chose malloc settings through GLIBC_TUNABLES (then nothing changes).
// Returns whether it changed them. Call before threads start allocating.
bool tune_allocator();

}  // namespace fp
