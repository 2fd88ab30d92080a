// ZeroMQ framing: one wire message per ZeroMQ message. A ROUTER sees
// [peer identity][frame]; a DEALER sees [frame]. Anything with more parts is
// drained and reported so the receiver can reject it.
#pragma once

#include <string>
#include <zmq.hpp>

#include "util/status.h"

namespace fp::proto {

// Hard message-size cap (ZMQ_MAXMSGSIZE), no linger on close, and, for a ROUTER,
// ROUTER_MANDATORY so a send to a vanished peer is an error rather than a silent drop.
void configure_router(zmq::socket_t& socket);
void configure_dealer(zmq::socket_t& socket);

struct PeerFrame {
  std::string peer;        // ROUTER identity (empty on a DEALER)
  zmq::message_t payload;  // the first frame after the identity
  size_t extra_parts = 0;  // parts beyond the expected ones, already discarded
};

// Receives one message; returns false when `wait` is false and nothing is queued.
bool recv_from_router(zmq::socket_t& router, PeerFrame& out, bool wait);
bool recv_from_dealer(zmq::socket_t& dealer, PeerFrame& out, bool wait);

// Sends take ownership of `frame` so large chunks are not copied again.
// Status::unavailable when the peer is gone or its queue is full.
Status send_to_peer(zmq::socket_t& router, const std::string& peer, std::string frame);
Status send_frame(zmq::socket_t& dealer, std::string frame);

}  // namespace fp::proto
