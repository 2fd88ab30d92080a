// A ZAP handler (ZeroMQ Authentication Protocol 1.0, RFC 27) on
// inproc://zeromq.zap.01: libzmq asks it about every CURVE handshake on the context's
// sockets, and it answers 200 (admit) or 400 (refuse) according to a policy. It does
// no blocking work of its own, so the coordinator polls socket() in its own loop and
// calls handle_pending(); the policy then runs on the coordinator's thread and may use
// its store.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <zmq.hpp>

#include "util/status.h"

namespace fp::security {

struct ZapRequest {
  std::string domain;      // the server socket's ZAP domain
  std::string address;     // the client's IP address
  std::string mechanism;   // "NULL", "PLAIN" or "CURVE"
  std::string public_key;  // CURVE: the client's long-term public key, Z85
};

struct ZapDecision {
  bool admit = false;
  std::string status_code = "400";  // "200", "300" (temporary), "400", "500"
  std::string reason;               // status text, logged and sent to libzmq
  std::string user_id;              // on admission: becomes the messages' "User-Id"
};

using ZapPolicy = std::function<ZapDecision(const ZapRequest&)>;

// The coordinator's policy: CURVE clients in `domain` whose key `lookup` finds (it
// returns the enrolled name, nothing when not enrolled, or an error) are admitted with
// their Z85 key as User-Id; everything else is refused. A failing lookup answers 500.
using KeyLookup = std::function<Result<std::optional<std::string>>(const std::string& key)>;
ZapDecision enrolled_key_policy(const ZapRequest& request, const std::string& domain,
                                const KeyLookup& lookup);

class ZapHandler {
 public:
  // Binds inproc://zeromq.zap.01 in `context`; fails when another handler holds it.
  static Result<std::unique_ptr<ZapHandler>> bind(zmq::context_t& context, ZapPolicy policy);
  ~ZapHandler();

  zmq::socket_t& socket() { return socket_; }
  // Answers every request already queued; malformed requests get a 400 or are dropped.
  void handle_pending();

  uint64_t admitted() const { return admitted_; }
  uint64_t refused() const { return refused_; }

 private:
  ZapHandler(zmq::context_t& context, ZapPolicy policy);
  ZapPolicy policy_;
  zmq::socket_t socket_;
  uint64_t admitted_ = 0, refused_ = 0;
};

}  // namespace fp::security
