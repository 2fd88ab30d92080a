// A small HTTP/1.1 server on Boost.Beast: one thread runs an Asio io_context that
// accepts connections and serves requests one at a time per connection (keep-alive
// honoured), handing each to a handler function. Boost stays out of this header.
// The handler runs only on the server thread, so it may own single-threaded state
// (such as a store::Store connection).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "util/status.h"

namespace fp::dash {

struct HttpRequest {
  std::string method;  // "GET", "HEAD", ...
  std::string target;  // path and query, as sent: "/api/campaigns/1?x=y"
  std::string host;    // the Host header ("" when absent)
};

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

using HttpHandler = std::function<HttpReply(const HttpRequest&)>;

// The dashboard shares its process's file descriptors with the coordinator's agents,
// so it takes a bounded share (docs/SECURITY.md): at most max_connections at once (one
// more is accepted and closed at once), idle ones closed, accept errors backed off.
struct HttpServerConfig {
  std::string address = "127.0.0.1";  // loopback unless configured otherwise
  uint16_t port = 0;                  // 0: the system picks a free port
  size_t max_connections = 64;
  std::chrono::milliseconds idle_timeout{10000};  // no complete request for this long
};

struct HttpServerStats {
  uint64_t accepted = 0;
  uint64_t refused_over_limit = 0;  // accepted and closed: max_connections were open
  uint64_t accept_errors = 0;       // such as EMFILE; each pauses accepting (backoff)
  uint64_t open = 0;                // connections open now
};

class HttpServer {
 public:
  // Binds and listens (errors such as a port in use are returned here), then
  // serves on its own thread until stop() or destruction.
  static Result<std::unique_ptr<HttpServer>> start(const HttpServerConfig& config,
                                                   HttpHandler handler);
  // Whether start() could bind `config` now: bound and released at once, serving nothing
  // (the checks of serve and fp-sim run; the error is start()'s).
  static Status check_bindable(const HttpServerConfig& config);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;          // the bound port
  std::string address() const;    // the bound address
  HttpServerStats stats() const;  // thread-safe
  // Closes the listener and every connection and joins the thread. Idempotent.
  void stop();

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fp::dash
