// Turning ZeroMQ sockets into CURVE servers and clients (RFC 26, CurveZMQ): every
// frame is encrypted and the server learns each client's long-term public key, which
// its ZAP handler (zap_handler.h) checks against the enrolled keys.
#pragma once

#include <string>
#include <zmq.hpp>

#include "security/keys.h"
#include "util/status.h"

namespace fp::security {

// The ZAP domain of the coordinator's socket.
constexpr const char* kZapDomain = "fineprune";

// How a socket authenticates: plain (ZeroMQ's NULL mechanism, no encryption, anyone
// may connect) only when asked for explicitly.
struct SocketSecurity {
  bool plain = false;
  KeyPair own;                // this side's key pair (curve)
  std::string server_public;  // clients: the coordinator's public key (curve)
};

// Makes `socket` a CURVE server with `own` in the ZAP domain above. Set it before
// bind(); with no ZAP handler in the context, ZeroMQ would admit any client, so the
// coordinator binds its handler first.
Status make_curve_server(zmq::socket_t& socket, const KeyPair& own);
// Makes `socket` a CURVE client of the server with `server_public`. Before connect().
Status make_curve_client(zmq::socket_t& socket, const KeyPair& own,
                         const std::string& server_public);

// Applies `security` to a server (bind) or client (connect) socket; plain does nothing.
Status apply_server_security(zmq::socket_t& socket, const SocketSecurity& security);
Status apply_client_security(zmq::socket_t& socket, const SocketSecurity& security);

}  // namespace fp::security
