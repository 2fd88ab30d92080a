#include "agent/connection_slot.h"

namespace fp::agent {

std::optional<Connection> ConnectionSlot::take(const std::string& endpoint) {
  std::optional<Connection> c = std::move(kept_);
  kept_.reset();
  if (!c || c->endpoint != endpoint || !c->socket) return std::nullopt;
  return c;
}

void ConnectionSlot::keep(Connection c) {
  // A Goodbye still queued on it leaves before the socket closes (when nobody takes it).
  if (c.socket) c.socket->set(zmq::sockopt::linger, 500);
  kept_.reset();  // the old monitor before the old socket
  kept_.emplace(std::move(c));
}

}  // namespace fp::agent
