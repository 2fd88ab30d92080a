#include "dashboard/http_server.h"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "util/thread_name.h"

namespace fp::dash {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kMinAcceptPause = std::chrono::milliseconds(50);
constexpr auto kMaxAcceptPause = std::chrono::milliseconds(2000);
constexpr size_t kMaxRequestBody = 16 * 1024;  // the API is read-only: requests carry no body

}  // namespace

struct HttpServer::Impl {
  class Session;  // one connection, below

  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::steady_timer accept_pause{io};
  std::chrono::milliseconds pause{0};  // current accept backoff (0: none)
  HttpServerConfig config;
  HttpHandler handler;
  mutable std::mutex stats_mutex;
  HttpServerStats stats;
  std::chrono::steady_clock::time_point last_error_log{};
  uint64_t errors_held = 0;
  std::thread thread;
  std::once_flag stopped;
  tcp::endpoint bound;  // read once after bind: the acceptor belongs to the server thread
  // Open connections, closed on stop; touched only on the server thread.
  std::set<std::shared_ptr<Session>> sessions;

  void accept();
};

class HttpServer::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::Impl& server)
      : stream_(std::move(socket)), server_(server) {}

  void start() { read(); }
  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(kMaxRequestBody);
    stream_.expires_after(server_.config.idle_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    // A request too large or malformed is answered with why (a browser showed only a reset
    // connection for a long URL); then the connection closes, its stream being unreadable.
    if (ec == http::error::header_limit) {
      return refuse(431, "the request's header is over 8 KB (a URL that long?)");
    }
    if (ec == http::error::body_limit) {
      return refuse(413, "the request's body is over " + std::to_string(kMaxRequestBody) +
                             " bytes; the API reads none");
    }
    if (ec && ec.category() == http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return refuse(400, "malformed HTTP request: " + ec.message());
    }
    if (ec) {
      // end_of_stream / timeout / a peer gone mid-request: nothing more to say to it.
      if (ec != http::error::end_of_stream && ec != beast::error::timeout &&
          ec != asio::error::operation_aborted) {
        spdlog::debug("dashboard: dropping a connection: {}", ec.message());
      }
      finish();
      return;
    }
    const auto& req = parser_->get();
    HttpRequest request{std::string(req.method_string()), std::string(req.target()),
                        std::string(req[http::field::host])};
    HttpReply reply;
    try {
      reply = server_.handler(request);
    } catch (const std::exception& e) {
      reply = {500, "application/json", std::string("{\"error\":\"internal error\"}"), {}};
      spdlog::error("dashboard: {} {}: {}", request.method, request.target, e.what());
    }
    response_ = {};
    response_.version(req.version());
    response_.result(static_cast<unsigned>(reply.status));
    response_.set(http::field::server, "fineprune-dashboard");
    response_.set(http::field::content_type, reply.content_type);
    for (const auto& [name, value] : reply.headers) response_.set(name, value);
    response_.keep_alive(req.keep_alive());
    if (req.method() == http::verb::head) {
      response_.content_length(reply.body.size());
    } else {
      response_.body() = std::move(reply.body);
      response_.prepare_payload();
    }
    stream_.expires_after(server_.config.idle_timeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec || !self->response_.keep_alive()) {
                          self->close();
                          self->finish();
                        } else {
                          self->read();
                        }
                      });
  }

  void refuse(unsigned status, const std::string& why) {
    response_ = {};
    response_.version(11);
    response_.result(status);
    response_.set(http::field::server, "fineprune-dashboard");
    response_.set(http::field::content_type, "application/json");
    response_.keep_alive(false);
    response_.body() = "{\"error\":\"" + why + "\"}";  // `why` is ours: no quotes to escape
    response_.prepare_payload();
    stream_.expires_after(server_.config.idle_timeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) {
                          self->close();
                          self->finish();
                          return;
                        }
                        // What the peer sent beyond what was parsed is still unread, and closing
                        // now would reset the connection, which may discard the answer before the
                        // peer reads it: stop sending, and read until the peer closes (at most the
                        // idle timeout).
                        beast::error_code ignored;
                        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                        self->drain();
                      });
  }

  void drain() {
    stream_.async_read_some(asio::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (!ec) return self->drain();
                              self->close();
                              self->finish();
                            });
  }

  void finish() {
    if (server_.sessions.erase(shared_from_this())) {
      std::lock_guard<std::mutex> lock(server_.stats_mutex);
      server_.stats.open = server_.sessions.size();
    }
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::array<char, 4096> scratch_;  // what a refused request sent after its answer, discarded
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  HttpServer::Impl& server_;
};

void HttpServer::Impl::accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;  // stopping
    if (ec) {
      // Out of descriptors (EMFILE) and the like: retrying at once would spin and log
      // without end. Pause, doubling up to kMaxAcceptPause; one log line per 10 s.
      pause = std::min(kMaxAcceptPause, pause.count() ? pause * 2 : kMinAcceptPause);
      {
        std::lock_guard<std::mutex> lock(stats_mutex);
        ++stats.accept_errors;
      }
      auto now = std::chrono::steady_clock::now();
      if (now - last_error_log >= std::chrono::seconds(10)) {
        spdlog::warn(
            "dashboard: accept failed: {}; pausing {} ms{}", ec.message(), pause.count(),
            errors_held ? fmt::format(" ({} more since the last such line)", errors_held) : "");
        last_error_log = now;
        errors_held = 0;
      } else {
        ++errors_held;
      }
      accept_pause.expires_after(pause);
      accept_pause.async_wait([this](beast::error_code e) {
        if (!e && acceptor.is_open()) accept();
      });
      return;
    }
    pause = std::chrono::milliseconds(0);
    std::lock_guard<std::mutex> lock(stats_mutex);
    if (sessions.size() >= config.max_connections) {
      // Accepted and closed at once, so the backlog does not fill with waiting peers.
      ++stats.refused_over_limit;
      beast::error_code ignored;
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
    } else {
      ++stats.accepted;
      auto session = std::make_shared<Session>(std::move(socket), *this);
      sessions.insert(session);
      stats.open = sessions.size();
      session->start();
    }
    accept();
  });
}

Status HttpServer::check_bindable(const HttpServerConfig& config) {
  auto probe = start(config, [](const HttpRequest&) {
    return HttpReply{503, "text/plain", "", {}};
  });
  if (probe.ok()) (*probe)->stop();
  return probe.status();
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(const HttpServerConfig& config,
                                                      HttpHandler handler) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  if (impl->config.max_connections == 0) impl->config.max_connections = 1;
  impl->handler = std::move(handler);
  beast::error_code ec;
  // "localhost" is the loopback a user means by it; other host names are not resolved.
  auto address = asio::ip::make_address(
      config.address == "localhost" ? std::string("127.0.0.1") : config.address, ec);
  if (ec) {
    return Status::invalid_argument("dashboard address '" + config.address +
                                    "' is not an IP address (127.0.0.1 or localhost for this "
                                    "machine, 0.0.0.0 for every interface): " +
                                    ec.message());
  }
  tcp::endpoint endpoint(address, config.port);
  auto where = config.address + ":" + std::to_string(config.port);
  if (impl->acceptor.open(endpoint.protocol(), ec); ec) {
    return Status::unavailable("dashboard: cannot open a socket: " + ec.message());
  }
  impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (impl->acceptor.bind(endpoint, ec); ec) {
    return Status::unavailable("dashboard: cannot bind " + where + ": " + ec.message());
  }
  if (impl->acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
    return Status::unavailable("dashboard: cannot listen on " + where + ": " + ec.message());
  }
  impl->bound = impl->acceptor.local_endpoint(ec);
  impl->accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    set_thread_name("fp-dashboard");
    try {
      raw->io.run();
    } catch (const std::exception& e) {
      spdlog::error("dashboard: server thread stopped: {}", e.what());
    }
  });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { stop(); }

uint16_t HttpServer::port() const { return impl_->bound.port(); }

std::string HttpServer::address() const { return impl_->bound.address().to_string(); }

HttpServerStats HttpServer::stats() const {
  std::lock_guard<std::mutex> lock(impl_->stats_mutex);
  return impl_->stats;
}

void HttpServer::stop() {
  std::call_once(impl_->stopped, [this] {
    // Closing happens on the server thread, which owns the acceptor and sessions.
    asio::post(impl_->io, [impl = impl_.get()] {
      beast::error_code ignored;
      impl->acceptor.close(ignored);
      impl->accept_pause.cancel();
      for (const auto& s : std::set<std::shared_ptr<Impl::Session>>(impl->sessions)) s->close();
      impl->sessions.clear();
    });
    if (impl_->thread.joinable()) impl_->thread.join();
  });
}

}  // namespace fp::dash
