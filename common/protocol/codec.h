// Encoding and decoding of wire messages: one Envelope per ZeroMQ frame, as an
// unpacked flat Cap'n Proto message.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "protocol/messages.h"
#include "util/status.h"

namespace fp::proto {

// Serialises `message` into a frame.
std::string encode(const Message& message);

// A Chunk frame straight from bytes, without building a Chunk first.
std::string encode_chunk(std::string_view sha256, uint64_t offset, uint64_t total_size,
                         std::string_view data);

// The fan-out path: builds a Chunk frame of `length` data bytes and lets `fill`
// write them straight into the frame (e.g. with pread), so model bytes are copied
// once, from the page cache into the frame that ZeroMQ sends.
using ChunkFill = std::function<Status(char* destination, size_t length)>;
Result<std::string> encode_chunk_filled(std::string_view sha256, uint64_t offset,
                                        uint64_t total_size, size_t length, const ChunkFill& fill);

// Decodes one frame of at most `max_bytes`, with traversal and nesting limits.
// Every field is copied out, so the result holds no reference into `data`.
// Failures are Status::corruption naming the problem; `why` (optional) receives
// the ErrorCode to answer with (kTooLarge or kMalformed).
Result<Message> decode(const void* data, size_t size, size_t max_bytes, ErrorCode* why = nullptr);
inline Result<Message> decode(std::string_view frame, size_t max_bytes, ErrorCode* why = nullptr) {
  return decode(frame.data(), frame.size(), max_bytes, why);
}

}  // namespace fp::proto
