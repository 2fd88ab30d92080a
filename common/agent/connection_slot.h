// A coordinator connection that an agent which finished leaves to the next agent run on
// the same thread. A simulation host's slot runs its virtual agents one after another;
// without this each opened a TCP connection, did the ZMTP (and CURVE) handshake and tore
// the connection down again (docs/SIMULATIONS.md, item 6 of "On a second machine"). Each agent
// still holds a session of its own on the connection: Hello, Welcome, its task, Goodbye.
//
// Only a connection whose session ended with the agent's own Goodbye is kept; a lost
// one is closed as before. Not thread-safe: one slot per thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <zmq.hpp>

#include "security/handshake_monitor.h"

namespace fp::agent {

struct Connection {
  std::string endpoint;  // what the socket is connected to
  std::unique_ptr<zmq::socket_t> socket;
  std::unique_ptr<security::HandshakeMonitor> monitor;  // may be null; declared last: dies first
};

class ConnectionSlot {
 public:
  ConnectionSlot() = default;
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;

  // The kept connection if it goes to `endpoint`; one to another endpoint is closed.
  std::optional<Connection> take(const std::string& endpoint);
  // Keeps `c` for the next agent (closing any connection kept before).
  void keep(Connection c);
  bool holds() const { return kept_.has_value(); }

 private:
  std::optional<Connection> kept_;
};

}  // namespace fp::agent
