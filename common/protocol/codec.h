// Encoding and decoding of wire messages: one Envelope per ZeroMQ frame, as an
// unpacked flat Cap'n Proto message.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
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

// The zero-copy fan-out form of a Chunk (schema/fineprune.capnp, "Framing"): returns
// the first ZeroMQ part, the segment table and segment 0; segment 1 is `data` itself,
// sent as the second part, `chunk_tail_bytes(data.size())` bytes from data.data().
// `data` must be word aligned and readable up to that length (a file mapping is: the
// last page is zero-filled). Error if it is not aligned.
Result<std::string> encode_chunk_head(std::string_view sha256, uint64_t offset, uint64_t total_size,
                                      std::string_view data);
inline size_t chunk_tail_bytes(size_t data_bytes) { return (data_bytes + 7) / 8 * 8; }

// Decodes one frame of at most `max_bytes`, with traversal and nesting limits.
// Every field is copied out, so the result holds no reference into `data`.
// Failures are Status::corruption naming the problem; `why` (optional) receives
// the ErrorCode to answer with (kTooLarge or kMalformed).
Result<Message> decode(const void* data, size_t size, size_t max_bytes, ErrorCode* why = nullptr);
inline Result<Message> decode(std::string_view frame, size_t max_bytes, ErrorCode* why = nullptr) {
  return decode(frame.data(), frame.size(), max_bytes, why);
}

// The receiving end of the fan-out path: reads a Chunk frame in place, with the same
// limits as decode(). nullopt when the frame is not a Chunk, or is not word aligned
// in memory (decode() copies such frames); an error when it is a damaged Chunk.
Result<std::optional<ChunkView>> decode_chunk_view(const void* data, size_t size, size_t max_bytes);
// A two-part Chunk read in place (head: table + segment 0; tail: segment 1), at most
// `max_bytes` together. Both parts must be word aligned in memory (recv_from_dealer
// sees to it); the table must describe exactly these two parts; the message must be
// a Chunk. Status::corruption naming what was wrong otherwise.
Result<ChunkView> decode_chunk_parts(const void* head, size_t head_size, const void* tail,
                                     size_t tail_size, size_t max_bytes);

}  // namespace fp::proto
