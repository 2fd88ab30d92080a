// The model artifact container without torch: framing, SHA-256, header JSON, spec,
// meta and the tensor table. artifact.cpp builds the model and fills it from what
// parse_artifact() returns; the libFuzzer harness (fuzz/) runs this part alone.
//
// Layout (little-endian):
//   "FPMODEL\0" | u32 format version | u64 header length | header JSON
//   | u64 payload length | payload (raw tensor bytes) | 32-byte SHA-256 of all before
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "models/model_spec.h"
#include "util/status.h"

namespace fp {

// Version 2 may omit mask buffers ("*unit_mask", "*weight_mask") that are all ones, so
// a dense model is not stored twice and a compact one holds only its kept weights.
// Version 1 files (every tensor present) still load.
constexpr uint32_t kArtifactFormatVersion = 2;
constexpr uint32_t kOldestArtifactFormatVersion = 1;

// One entry of the header's tensor table, as written (not yet checked against a model).
struct ArtifactTensor {
  std::string name, dtype;
  std::vector<uint64_t> shape;
  uint64_t offset = 0, nbytes = 0;
};

struct ArtifactContents {
  ModelSpec spec;  // validated
  std::map<std::string, std::string> meta;
  std::vector<ArtifactTensor> tensors;
  std::string_view payload;  // points into the parsed bytes
  std::string sha256;        // hex, of all but the last 32 bytes (the hash recorded there)
  uint32_t version = kArtifactFormatVersion;
};

// Whether a version-2 artifact may leave out this tensor (an all-ones mask).
bool artifact_may_omit(const std::string& tensor_name);

// Checks lengths, magic, version and hash, parses the header and the types of every
// field. Failures are Status::corruption("model artifact: ...") naming the problem.
Result<ArtifactContents> parse_artifact(std::string_view bytes);

// Tensors are stored back to back: `t` must start at *next_offset and end inside a
// payload of `payload_size` bytes; advances *next_offset past it.
Status check_tensor_extent(const ArtifactTensor& t, uint64_t payload_size, uint64_t* next_offset);

// Writing: the bytes before the payload, and the trailing hash (returned as hex).
std::string artifact_head(std::string_view header_text, uint64_t payload_size);
// The whole artifact's size for a header and payload of these sizes (head, payload, hash).
uint64_t artifact_size(uint64_t header_size, uint64_t payload_size);
std::string append_artifact_hash(std::string& artifact);

// Status::corruption with the "model artifact: " prefix.
Status artifact_corrupt(const std::string& what);

// Corruption ("bad magic") when `head`, a file's first bytes (8 or more), does not begin as
// an artifact does; OK for fewer (parse_artifact names a file that short). Checked on a
// file's first bytes before the rest is read: a 2 GB file of anything else was mapped whole
// to be refused.
Status check_artifact_magic(std::string_view head);

}  // namespace fp
