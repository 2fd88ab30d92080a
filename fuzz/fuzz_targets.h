// What each fuzz harness checks for one input, shared by the libFuzzer harnesses
// (fuzz/*.cpp, built with clang) and the Catch2 test that replays the seeds and every
// kept crashing input (tests/test_fuzz_regressions.cpp, built with g++).
//
// Each check returns "" when the input was handled as it must be (accepted, or
// refused with a non-empty error of the documented kind) and otherwise says what went
// wrong. Crashes, hangs, leaks and undefined behaviour are the sanitizers' to report.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "models/artifact_format.h"
#include "protocol/codec.h"
#include "protocol/limits.h"
#include "protocol/validate.h"
#include "util/sha256.h"

namespace fp::fuzz {

// One side's decoder: decode with that side's size limit, then validate. A frame that
// passes must re-encode to a frame that decodes and validates again.
inline std::string check_frame_side(std::string_view frame, size_t max_bytes,
                                    Status (*validate)(const proto::Message&)) {
  proto::ErrorCode why = proto::ErrorCode::kInternal;
  auto decoded = proto::decode(frame, max_bytes, &why);
  if (!decoded.ok()) {
    if (decoded.status().message().empty()) return "decode failed without a message";
    if (why != proto::ErrorCode::kMalformed && why != proto::ErrorCode::kTooLarge)
      return "decode failed with an unexpected error code";
    return "";
  }
  Status valid = validate(*decoded);
  if (!valid.ok()) return valid.message().empty() ? "validation failed without a message" : "";
  const std::string again = proto::encode(*decoded);
  auto redecoded = proto::decode(again, proto::kHardFrameBytes);
  if (!redecoded.ok()) return "a valid message re-encodes to an undecodable frame";
  if (redecoded->index() != decoded->index()) return "re-encoding changed the message type";
  if (!validate(*redecoded).ok()) return "a valid message re-encodes to an invalid one";
  return "";
}

// The agent's in-place chunk readers. A frame read in place must say what decode()
// says; any split of the bytes into [head][tail] is read as a two-part chunk or
// refused with a reason, never misread.
inline std::string check_chunk_readers(std::string_view frame) {
  std::vector<uint64_t> words(frame.size() / 8 + 1);
  std::memcpy(words.data(), frame.data(), frame.size());
  auto view =
      proto::decode_chunk_view(words.data(), frame.size(), proto::kMaxCoordinatorFrameBytes);
  auto decoded = proto::decode(frame, proto::kMaxCoordinatorFrameBytes);
  // (Not a Chunk: the in-place reader stops at the message type, decode() reads on.)
  if (!view.ok() && decoded.ok()) return "refused in place, decoded by copying";
  if (view.ok() && view->has_value()) {
    if (!decoded.ok()) return "read in place as a Chunk, refused by copying";
    const auto* c = std::get_if<proto::Chunk>(&*decoded);
    if (!c) return "read in place as a Chunk, decoded as something else";
    if ((*view)->data != c->data || (*view)->sha256 != c->sha256 || (*view)->offset != c->offset ||
        (*view)->total_size != c->total_size) {
      return "in-place and copying decoders read different chunks";
    }
  }
  size_t head = frame.empty() ? 0 : std::min(frame.size(), size_t{16} + 8 * (frame[0] & 31));
  head -= head % 8;
  const char* bytes = reinterpret_cast<const char*>(words.data());
  auto parts = proto::decode_chunk_parts(bytes, head, bytes + head, (frame.size() - head) / 8 * 8,
                                         proto::kMaxCoordinatorFrameBytes);
  if (!parts.ok() && parts.status().message().empty())
    return "two-part read failed without a message";
  if (parts.ok() && !proto::validate_chunk(*parts).ok() &&
      proto::validate_chunk(*parts).message().empty()) {
    return "two-part chunk refused without a message";
  }
  return "";
}

// The network frame decoder as the coordinator (agent frames) and the agent
// (coordinator frames) run it.
inline std::string check_frame(const uint8_t* data, size_t size) {
  std::string_view frame(reinterpret_cast<const char*>(data), size);
  if (std::string e = check_chunk_readers(frame); !e.empty()) return "chunk readers: " + e;
  std::string e =
      check_frame_side(frame, proto::kMaxAgentFrameBytes, proto::validate_agent_message);
  if (!e.empty()) return "agent frame: " + e;
  e = check_frame_side(frame, proto::kMaxCoordinatorFrameBytes,
                       proto::validate_coordinator_message);
  if (!e.empty()) return "coordinator frame: " + e;
  return "";
}

// The artifact container. The first byte picks the mode: odd, the rest is a whole
// artifact as read from disk; even, the rest is an artifact without its hash, which
// is appended, so mutations reach the header and tensor table behind the SHA-256.
inline std::string check_artifact(const uint8_t* data, size_t size) {
  if (size == 0) return "";
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    const Sha256Digest digest = sha256(bytes);
    bytes.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  }
  auto parsed = parse_artifact(bytes);
  if (!parsed.ok()) {
    if (parsed.status().code() != Status::Code::kCorruption) return "not a corruption status";
    if (parsed.status().message().empty()) return "refused without a message";
    return "";
  }
  if (parsed->sha256 != sha256_hex(std::string_view(bytes).substr(0, bytes.size() - 32)))
    return "the reported SHA-256 is not the content's";
  if (parsed->spec.validate().ok() == false) return "an invalid spec was accepted";
  // Walk the tensor table as the loader does; every extent it accepts lies in the payload.
  uint64_t next = 0;
  for (const auto& t : parsed->tensors) {
    Status s = check_tensor_extent(t, parsed->payload.size(), &next);
    if (!s.ok()) return s.message().empty() ? "extent refused without a message" : "";
    if (t.offset + t.nbytes > parsed->payload.size()) return "an extent past the payload passed";
  }
  return "";
}

}  // namespace fp::fuzz
