// ZeroMQ framing: one wire message per ZeroMQ message. A ROUTER sees
// [peer identity][frame]; a DEALER sees [frame], or [head][tail] for a two-part
// Chunk (schema/fineprune.capnp, "Framing"). Anything with more parts is drained and
// reported so the receiver can reject it.
#pragma once

#include <string>
#include <zmq.hpp>

#include "protocol/messages.h"
#include "util/status.h"

namespace fp::proto {

// Hard message-size cap (ZMQ_MAXMSGSIZE), no linger on close, and, for a ROUTER,
// ROUTER_MANDATORY so a send to a vanished peer is an error rather than a silent drop.
void configure_router(zmq::socket_t& socket);
void configure_dealer(zmq::socket_t& socket);

struct PeerFrame {
  std::string peer;        // ROUTER identity (empty on a DEALER)
  zmq::message_t payload;  // the first frame after the identity
  zmq::message_t tail;     // DEALER only: the second part of a two-part Chunk
  bool has_tail = false;
  size_t extra_parts = 0;  // parts beyond the expected ones, already discarded
};

// Receives one message; returns false when `wait` is false and nothing is queued.
// A DEALER's parts come word aligned in memory, so Cap'n Proto can read them in place.
// The agent reads chunks in place (codec.h); anything else, and tests, decode what a
// DEALER received with decode_received().
bool recv_from_router(zmq::socket_t& router, PeerFrame& out, bool wait);
bool recv_from_dealer(zmq::socket_t& dealer, PeerFrame& out, bool wait);

// What a DEALER received as a Message, a two-part Chunk included (its data copied
// out). Extra parts, or a second part after anything but a Chunk, are an error.
Result<Message> decode_received(const PeerFrame& frame, size_t max_bytes);

// Sends take ownership of `frame` so large chunks are not copied again.
// Status::unavailable when the peer is gone or its queue is full.
Status send_to_peer(zmq::socket_t& router, const std::string& peer, std::string frame);
Status send_frame(zmq::socket_t& dealer, std::string frame);

// Sends [peer][first] or, with `second`, [peer][first][second] (a two-part Chunk),
// handing the messages to ZeroMQ as they are: no copy; their free functions run when
// ZeroMQ is done with them, sent or dropped. Errors as send_to_peer's.
Status send_parts_to_peer(zmq::socket_t& router, const std::string& peer, zmq::message_t first,
                          zmq::message_t* second = nullptr);

}  // namespace fp::proto
