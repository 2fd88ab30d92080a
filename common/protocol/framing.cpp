#include "protocol/framing.h"

#include <cstdint>

#include "protocol/codec.h"
#include "protocol/limits.h"

namespace fp::proto {
namespace {

void configure_common(zmq::socket_t& socket) {
  socket.set(zmq::sockopt::maxmsgsize, kHardFrameBytes);
  socket.set(zmq::sockopt::linger, 0);
}

// Discards the rest of a multipart message; returns how many parts it had.
size_t drain(zmq::socket_t& socket, bool more) {
  size_t parts = 0;
  while (more) {
    zmq::message_t part;
    if (!socket.recv(part, zmq::recv_flags::none)) break;
    ++parts;
    more = part.more();
  }
  return parts;
}

zmq::message_t owned_message(std::string frame) {
  auto* holder = new std::string(std::move(frame));
  return zmq::message_t(
      holder->data(), holder->size(),
      [](void*, void* hint) { delete static_cast<std::string*>(hint); }, holder);
}

// ZeroMQ keeps small messages inside its receive buffer at any offset; Cap'n Proto
// reads words in place. Such a message moves to a heap block of its own (aligned).
void word_align(zmq::message_t& m) {
  if (reinterpret_cast<uintptr_t>(m.data()) % alignof(uint64_t) != 0) {
    m = zmq::message_t(m.data(), m.size());
  }
}

}  // namespace

void configure_router(zmq::socket_t& socket) {
  configure_common(socket);
  socket.set(zmq::sockopt::router_mandatory, true);
}

void configure_dealer(zmq::socket_t& socket) { configure_common(socket); }

bool recv_from_router(zmq::socket_t& router, PeerFrame& out, bool wait) {
  zmq::message_t identity;
  auto flags = wait ? zmq::recv_flags::none : zmq::recv_flags::dontwait;
  if (!router.recv(identity, flags)) return false;
  out.peer.assign(static_cast<const char*>(identity.data()), identity.size());
  out.extra_parts = 0;
  out.payload.rebuild(size_t{0});
  if (!identity.more()) return true;  // an empty message: payload stays empty
  if (!router.recv(out.payload, zmq::recv_flags::none)) return true;
  out.extra_parts = drain(router, out.payload.more());
  return true;
}

bool recv_from_dealer(zmq::socket_t& dealer, PeerFrame& out, bool wait) {
  auto flags = wait ? zmq::recv_flags::none : zmq::recv_flags::dontwait;
  if (!dealer.recv(out.payload, flags)) return false;
  out.peer.clear();
  out.has_tail = false;
  out.extra_parts = 0;
  bool more = out.payload.more();
  word_align(out.payload);
  if (!more) return true;
  out.has_tail = static_cast<bool>(dealer.recv(out.tail, zmq::recv_flags::none));
  if (!out.has_tail) return true;
  more = out.tail.more();
  word_align(out.tail);
  out.extra_parts = drain(dealer, more);
  return true;
}

Status send_to_peer(zmq::socket_t& router, const std::string& peer, std::string frame) {
  return send_parts_to_peer(router, peer, owned_message(std::move(frame)));
}

Status send_parts_to_peer(zmq::socket_t& router, const std::string& peer, zmq::message_t first,
                          zmq::message_t* second) {
  try {
    zmq::message_t id(peer.data(), peer.size());
    if (!router.send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      return Status::unavailable("send queue to peer is full");
    }
    // The rest of a message whose first part was accepted is accepted too.
    router.send(first, second ? zmq::send_flags::sndmore | zmq::send_flags::dontwait
                              : zmq::send_flags::dontwait);
    if (second) router.send(*second, zmq::send_flags::dontwait);
    return Status::ok_status();
  } catch (const zmq::error_t& e) {
    return Status::unavailable(std::string("send to peer failed: ") + e.what());
  }
}

Status send_frame(zmq::socket_t& dealer, std::string frame) {
  try {
    if (!dealer.send(owned_message(std::move(frame)), zmq::send_flags::dontwait)) {
      return Status::unavailable("send queue to coordinator is full");
    }
    return Status::ok_status();
  } catch (const zmq::error_t& e) {
    return Status::unavailable(std::string("send failed: ") + e.what());
  }
}

Result<Message> decode_received(const PeerFrame& frame, size_t max_bytes) {
  if (frame.extra_parts) {
    return Status::protocol("message of " + std::to_string(frame.extra_parts + 2) + " parts");
  }
  if (!frame.has_tail) return decode(frame.payload.data(), frame.payload.size(), max_bytes);
  FP_ASSIGN_OR_RETURN(
      ChunkView c, decode_chunk_parts(frame.payload.data(), frame.payload.size(), frame.tail.data(),
                                      frame.tail.size(), max_bytes));
  return Message(Chunk{std::string(c.sha256), c.offset, c.total_size, std::string(c.data)});
}

}  // namespace fp::proto
