// A loopback TCP forwarder that records every byte each way, so a test can read
// exactly what agents put on the wire. Also a minimal ZMTP 3 reader that recovers
// the messages from a recorded stream.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fp::testing {

class TcpTap {
 public:
  // Forwards connections on 127.0.0.1:<port()> to 127.0.0.1:<target_port>.
  explicit TcpTap(int target_port);
  ~TcpTap();
  TcpTap(const TcpTap&) = delete;
  TcpTap& operator=(const TcpTap&) = delete;

  int port() const { return port_; }
  // One entry per accepted connection: bytes client -> server, and server -> client.
  std::vector<std::string> upstream() const;
  std::vector<std::string> downstream() const;

 private:
  void accept_loop();
  void pump(int client, int server, size_t index);

  int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  bool stopping_ = false;
  std::thread acceptor_;
  std::vector<std::thread> pumps_;
  mutable std::mutex mutex_;
  std::vector<std::string> up_, down_;
};

// The messages (each the concatenation of its frames) of one direction of a ZMTP 3
// connection; commands (READY, PING, ...) are skipped. `complete` turns false if
// the stream ends mid-frame or is not ZMTP.
std::vector<std::string> zmtp_messages(const std::string& stream, bool* complete = nullptr);

}  // namespace fp::testing
