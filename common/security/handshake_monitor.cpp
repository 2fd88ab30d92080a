#include "security/handshake_monitor.h"

#include <zmq.h>

#include <atomic>
#include <cstring>

namespace fp::security {

bool HandshakeEvent::definitive() const {
  if (kind == Kind::kFailedAuth) return value == 400;
  return kind == Kind::kFailedProtocol && value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH;
}

std::string HandshakeEvent::describe() const {
  switch (kind) {
    case Kind::kSucceeded:
      return "handshake with " + endpoint + " succeeded";
    case Kind::kFailedAuth:
      if (value == 400) {
        return "the coordinator at " + endpoint +
               " refused this agent's CURVE key (ZAP 400): is the agent's public key enrolled "
               "('fp-coordinator enroll --key AGENT.pub'), or was it revoked?";
      }
      return "authentication at " + endpoint + " failed with ZAP status " + std::to_string(value) +
             " (temporary; retrying)";
    case Kind::kFailedProtocol:
      if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
        return "security mismatch with " + endpoint +
               ": one side is plain and the other CURVE (check --plain and the coordinator's "
               "security setting)";
      }
      return "handshake with " + endpoint + " failed: protocol error 0x" + [&] {
        char hex[16];
        std::snprintf(hex, sizeof hex, "%x", value);
        return std::string(hex);
      }() + " (a wrong coordinator public key?)";
    case Kind::kFailedOther:
      break;
  }
  return "handshake with " + endpoint +
         " failed (no detail: a wrong coordinator public key, or a network error)";
}

HandshakeMonitor::HandshakeMonitor(zmq::context_t& context, zmq::socket_t& watched)
    : watched_(watched), pair_(context, zmq::socket_type::pair) {
  static std::atomic<uint64_t> counter{0};
  std::string endpoint = "inproc://fp-handshake-monitor-" + std::to_string(++counter);
  int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
  if (zmq_socket_monitor(watched_.handle(), endpoint.c_str(), events) != 0) return;
  pair_.set(zmq::sockopt::linger, 0);
  try {
    pair_.connect(endpoint);
    active_ = true;
  } catch (const zmq::error_t&) {
    zmq_socket_monitor(watched_.handle(), nullptr, 0);
  }
}

HandshakeMonitor::~HandshakeMonitor() {
  if (active_) zmq_socket_monitor(watched_.handle(), nullptr, 0);
}

std::optional<HandshakeEvent> HandshakeMonitor::next() {
  if (!active_) return std::nullopt;
  while (true) {
    zmq::message_t head, address;
    try {
      if (!pair_.recv(head, zmq::recv_flags::dontwait)) return std::nullopt;
      if (!head.more() || !pair_.recv(address, zmq::recv_flags::none)) continue;
    } catch (const zmq::error_t&) {
      return std::nullopt;
    }
    if (head.size() < 6) continue;
    uint16_t id;
    uint32_t value;
    std::memcpy(&id, head.data(), 2);
    std::memcpy(&value, static_cast<const char*>(head.data()) + 2, 4);
    HandshakeEvent e;
    e.value = value;
    e.endpoint = address.to_string();
    switch (id) {
      case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        e.kind = HandshakeEvent::Kind::kSucceeded;
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        e.kind = HandshakeEvent::Kind::kFailedAuth;
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        e.kind = HandshakeEvent::Kind::kFailedProtocol;
        break;
      default:
        e.kind = HandshakeEvent::Kind::kFailedOther;
        break;
    }
    return e;
  }
}

}  // namespace fp::security
