#include "protocol/framing.h"

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
  out.extra_parts = drain(dealer, out.payload.more());
  return true;
}

Status send_to_peer(zmq::socket_t& router, const std::string& peer, std::string frame) {
  try {
    zmq::message_t id(peer.data(), peer.size());
    if (!router.send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      return Status::unavailable("send queue to peer is full");
    }
    router.send(owned_message(std::move(frame)), zmq::send_flags::dontwait);
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

}  // namespace fp::proto
