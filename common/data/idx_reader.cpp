#include "data/idx_reader.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

namespace fp {
namespace {

constexpr int kMaxRank = 4;
constexpr uint8_t kTypeUnsignedByte = 0x08;

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzHandle = std::unique_ptr<gzFile_s, GzCloser>;

// Reads up to `n` bytes and returns how many arrived; a decompression failure (a
// truncated .gz stream ends up here) also sets `error`.
int64_t read_some(gzFile f, uint8_t* dst, uint64_t n, std::string* error) {
  uint64_t done = 0;
  while (done < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<uint64_t>(n - done, 1u << 20));
    const int got = gzread(f, dst + done, chunk);
    if (got < 0) {
      int errnum = 0;
      *error = gzerror(f, &errnum);
      break;
    }
    if (got == 0) break;
    done += static_cast<uint64_t>(got);
  }
  return static_cast<int64_t>(done);
}

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string hex(uint32_t value, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%0*x", digits, value);
  return buf;
}

// Opens `path` and reads its header: the file, positioned at the payload, and the dims.
Result<std::vector<int64_t>> read_header(const std::string& path, int expected_rank,
                                         uint64_t max_bytes, GzHandle& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status::not_found(path + ": no such IDX file");
  }
  file.reset(gzopen(path.c_str(), "rb"));
  if (!file) return Status::io_error(path + ": cannot open");
  std::string error;

  uint8_t magic[4];
  int64_t got = read_some(file.get(), magic, 4, &error);
  if (got < 4) return Status::corruption(path + ": truncated IDX header (magic)");
  if (magic[0] != 0 || magic[1] != 0) {
    return Status::corruption(path + ": bad IDX magic " + hex(big_endian_u32(magic), 8));
  }
  if (magic[2] != kTypeUnsignedByte) {
    return Status::corruption(path + ": IDX element type " + hex(magic[2], 2) +
                              " is not unsigned byte (0x08)");
  }
  const int rank = magic[3];
  if (rank < 1 || rank > kMaxRank) {
    return Status::corruption(path + ": IDX rank " + std::to_string(rank) + " outside [1, " +
                              std::to_string(kMaxRank) + "]");
  }
  if (expected_rank != 0 && rank != expected_rank) {
    return Status::corruption(path + ": IDX rank " + std::to_string(rank) + ", expected " +
                              std::to_string(expected_rank));
  }

  uint8_t dim_bytes[4 * kMaxRank];
  got = read_some(file.get(), dim_bytes, 4 * static_cast<uint64_t>(rank), &error);
  if (got < 4 * rank) return Status::corruption(path + ": truncated IDX header (dimensions)");

  std::vector<int64_t> dims;
  uint64_t total = 1;
  for (int i = 0; i < rank; ++i) {
    const uint32_t d = big_endian_u32(dim_bytes + 4 * i);
    if (d == 0) {
      return Status::corruption(path + ": IDX dimension " + std::to_string(i) + " is zero");
    }
    total *= d;  // cannot overflow: checked against the caps after every step
    if (total > kMaxIdxPayloadBytes) {
      return Status::corruption(path + ": IDX dimensions claim more than " +
                                std::to_string(kMaxIdxPayloadBytes) + " bytes");
    }
    dims.push_back(static_cast<int64_t>(d));
  }
  if (total > max_bytes) {
    return Status::invalid_argument(path + ": too large (" + std::to_string(total) +
                                    " bytes of IDX payload; at most " + std::to_string(max_bytes) +
                                    " are read)");
  }
  return dims;
}

}  // namespace

Result<std::vector<int64_t>> read_idx_dims(const std::string& path, int expected_rank,
                                           uint64_t max_bytes) {
  GzHandle file(nullptr);
  return read_header(path, expected_rank, max_bytes, file);
}

Result<IdxArray> read_idx(const std::string& path, int expected_rank, uint64_t max_bytes) {
  GzHandle file(nullptr);
  IdxArray out;
  FP_ASSIGN_OR_RETURN(out.dims, read_header(path, expected_rank, max_bytes, file));
  uint64_t total = 1;
  for (int64_t d : out.dims) total *= static_cast<uint64_t>(d);
  std::string error;
  int64_t got = 0;

  // Grown in chunks so a header that lies about its size cannot force a huge allocation.
  uint64_t have = 0;
  while (have < total) {
    const uint64_t step = std::min<uint64_t>(total - have, uint64_t{16} << 20);
    out.data.resize(have + step);
    got = read_some(file.get(), out.data.data() + have, step, &error);
    have += static_cast<uint64_t>(got);
    if (static_cast<uint64_t>(got) < step) {
      return Status::corruption(path + ": truncated IDX payload: expected " +
                                std::to_string(total) + " bytes, got " + std::to_string(have) +
                                (error.empty() ? "" : " (" + error + ")"));
    }
  }

  uint8_t extra[64];
  got = read_some(file.get(), extra, sizeof(extra), &error);
  if (!error.empty()) return Status::corruption(path + ": " + error + " after the payload");
  if (got > 0) {
    return Status::corruption(path + ": trailing bytes after the " + std::to_string(total) +
                              "-byte IDX payload");
  }
  return out;
}

}  // namespace fp
