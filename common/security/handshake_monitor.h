// Watches one socket's handshakes (zmq_socket_monitor) so a failed CURVE handshake
// (key not enrolled, plain on one side and CURVE on the other) is reported with its
// cause instead of looking like a silent coordinator.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <zmq.hpp>

namespace fp::security {

struct HandshakeEvent {
  enum class Kind { kSucceeded, kFailedAuth, kFailedProtocol, kFailedOther };
  Kind kind = Kind::kFailedOther;
  uint32_t value = 0;  // kFailedAuth: the ZAP status code; kFailedProtocol: ZMQ_PROTOCOL_ERROR_*
  std::string endpoint;

  // True when retrying cannot help: the peer refused our key or speaks another mechanism.
  bool definitive() const;
  std::string describe() const;
};

class HandshakeMonitor {
 public:
  // Starts monitoring `watched` (before it connects or binds). The monitor must be
  // destroyed before `watched` is closed.
  HandshakeMonitor(zmq::context_t& context, zmq::socket_t& watched);
  ~HandshakeMonitor();
  HandshakeMonitor(const HandshakeMonitor&) = delete;
  HandshakeMonitor& operator=(const HandshakeMonitor&) = delete;

  bool active() const { return active_; }  // false if libzmq refused to monitor
  zmq::socket_t& socket() { return pair_; }
  // The next handshake event already queued, if any.
  std::optional<HandshakeEvent> next();

 private:
  zmq::socket_t& watched_;
  zmq::socket_t pair_;
  bool active_ = false;
};

}  // namespace fp::security
