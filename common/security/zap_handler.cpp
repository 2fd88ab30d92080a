#include "security/zap_handler.h"

#include <spdlog/spdlog.h>
#include <zmq.h>

#include <vector>

namespace fp::security {
namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";
constexpr size_t kCurveKeyBytes = 32;

std::string z85_of(const std::string& binary) {
  char z85[41] = {0};
  if (binary.size() != kCurveKeyBytes ||
      !zmq_z85_encode(z85, reinterpret_cast<const uint8_t*>(binary.data()), binary.size())) {
    return "";
  }
  return z85;
}

}  // namespace

ZapDecision enrolled_key_policy(const ZapRequest& request, const std::string& domain,
                                const KeyLookup& lookup) {
  ZapDecision d;
  if (request.domain != domain) {
    d.reason = "unknown ZAP domain '" + request.domain + "'";
    return d;
  }
  if (request.mechanism != "CURVE") {
    d.reason = "mechanism " + request.mechanism + " is not accepted: CURVE only";
    return d;
  }
  auto name = lookup(request.public_key);
  if (!name.ok()) {
    d.status_code = "500";
    d.reason = "enrollment lookup failed: " + name.status().message();
    return d;
  }
  if (!name->has_value()) {
    d.reason = "public key " + request.public_key + " is not enrolled";
    return d;
  }
  d.admit = true;
  d.status_code = "200";
  d.reason = "enrolled as " + **name;
  d.user_id = request.public_key;
  return d;
}

ZapHandler::ZapHandler(zmq::context_t& context, ZapPolicy policy)
    : policy_(std::move(policy)), socket_(context, zmq::socket_type::rep) {
  socket_.set(zmq::sockopt::linger, 0);
}

ZapHandler::~ZapHandler() = default;

Result<std::unique_ptr<ZapHandler>> ZapHandler::bind(zmq::context_t& context, ZapPolicy policy) {
  std::unique_ptr<ZapHandler> handler(new ZapHandler(context, std::move(policy)));
  try {
    handler->socket_.bind(kZapEndpoint);
  } catch (const zmq::error_t& e) {
    return Status::unavailable(std::string("binding the ZAP handler at ") + kZapEndpoint + ": " +
                               e.what() +
                               " (one CURVE coordinator per ZeroMQ context: another one holds it)");
  }
  return handler;
}

void ZapHandler::handle_pending() {
  while (true) {
    std::vector<std::string> parts;
    zmq::message_t part;
    try {
      if (!socket_.recv(part, zmq::recv_flags::dontwait)) return;
      parts.emplace_back(part.to_string());
      while (part.more()) {
        (void)socket_.recv(part, zmq::recv_flags::none);
        parts.emplace_back(part.to_string());
      }
    } catch (const zmq::error_t& e) {
      spdlog::error("ZAP handler: receiving a request: {}", e.what());
      return;
    }
    // version, request id, domain, address, identity, mechanism, credentials...
    std::string version = parts.size() > 0 ? parts[0] : "";
    std::string request_id = parts.size() > 1 ? parts[1] : "";
    ZapDecision d;
    if (parts.size() < 6 || version != "1.0") {
      d.reason = "malformed ZAP request (" + std::to_string(parts.size()) + " frames, version '" +
                 version + "')";
    } else {
      ZapRequest r{parts[2], parts[3], parts[5], ""};
      if (r.mechanism == "CURVE") {
        r.public_key = parts.size() == 7 ? z85_of(parts[6]) : "";
        if (r.public_key.empty()) r.mechanism = "CURVE (without a 32-byte key)";
      }
      d = policy_(r);
      if (d.admit) {
        ++admitted_;
        spdlog::debug("ZAP: admitted {} from {}: {}", r.public_key, r.address, d.reason);
      } else {
        ++refused_;
        spdlog::debug("ZAP: refused {} client {} from {}: {}", r.mechanism,
                      r.public_key.empty() ? "(no key)" : r.public_key, r.address, d.reason);
      }
    }
    if (!d.admit && d.status_code == "200") d.status_code = "400";
    const std::string reply[] = {"1.0", request_id, d.status_code, d.reason, d.user_id, ""};
    try {
      for (size_t i = 0; i < 6; ++i) {
        socket_.send(zmq::buffer(reply[i]),
                     i + 1 < 6 ? zmq::send_flags::sndmore : zmq::send_flags::none);
      }
    } catch (const zmq::error_t& e) {
      spdlog::error("ZAP handler: sending a reply: {}", e.what());
      return;
    }
  }
}

}  // namespace fp::security
