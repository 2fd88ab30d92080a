#include "security/curve.h"

namespace fp::security {
namespace {

// Z85 keys go in with their terminating NUL (41 bytes), the form every libzmq 4.x reads.
void set_z85(zmq::socket_t& socket, int option, const std::string& key) {
  if (zmq_setsockopt(socket.handle(), option, key.c_str(), key.size() + 1) != 0) {
    throw zmq::error_t();
  }
}

Status not_built() {
  return Status::unavailable(
      "this libzmq has no CURVE support (built without libsodium); use plain mode explicitly");
}

}  // namespace

Status make_curve_server(zmq::socket_t& socket, const KeyPair& own) {
  if (!curve_available()) return not_built();
  FP_RETURN_IF_ERROR(check_z85_key(own.public_key, "coordinator public key"));
  FP_RETURN_IF_ERROR(check_z85_key(own.secret_key, "coordinator secret key"));
  try {
    socket.set(zmq::sockopt::curve_server, true);
    set_z85(socket, ZMQ_CURVE_SECRETKEY, own.secret_key);
    set_z85(socket, ZMQ_CURVE_PUBLICKEY, own.public_key);
    socket.set(zmq::sockopt::zap_domain, kZapDomain);
  } catch (const zmq::error_t& e) {
    return Status::internal(std::string("configuring the CURVE server: ") + e.what());
  }
  // ZMQ_ZAP_ENFORCE_DOMAIN (93, a draft option): where available, a missing ZAP
  // handler refuses clients instead of admitting them. Best effort.
  int enforce = 1;
  (void)zmq_setsockopt(socket.handle(), 93, &enforce, sizeof enforce);
  return Status::ok_status();
}

Status make_curve_client(zmq::socket_t& socket, const KeyPair& own,
                         const std::string& server_public) {
  if (!curve_available()) return not_built();
  if (own.secret_key.empty()) {
    return Status::invalid_argument(
        "this agent has no CURVE key pair: create one with 'fp-agent keygen' (or ask for plain "
        "mode explicitly)");
  }
  if (server_public.empty()) {
    return Status::invalid_argument(
        "the coordinator's public key is not set (fp-agent --coordinator-key)");
  }
  FP_RETURN_IF_ERROR(check_z85_key(own.public_key, "agent public key"));
  FP_RETURN_IF_ERROR(check_z85_key(own.secret_key, "agent secret key"));
  FP_RETURN_IF_ERROR(check_z85_key(server_public, "coordinator public key"));
  try {
    set_z85(socket, ZMQ_CURVE_SERVERKEY, server_public);
    set_z85(socket, ZMQ_CURVE_PUBLICKEY, own.public_key);
    set_z85(socket, ZMQ_CURVE_SECRETKEY, own.secret_key);
  } catch (const zmq::error_t& e) {
    return Status::internal(std::string("configuring the CURVE client: ") + e.what());
  }
  return Status::ok_status();
}

Status apply_server_security(zmq::socket_t& socket, const SocketSecurity& security) {
  if (security.plain) return Status::ok_status();
  return make_curve_server(socket, security.own);
}

Status apply_client_security(zmq::socket_t& socket, const SocketSecurity& security) {
  if (security.plain) return Status::ok_status();
  return make_curve_client(socket, security.own, security.server_public);
}

}  // namespace fp::security
