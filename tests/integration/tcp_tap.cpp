#include "tcp_tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace fp::testing {

TcpTap::TcpTap(int target_port) : target_port_(target_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(listen_fd_, 64);
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

TcpTap::~TcpTap() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  for (auto& t : pumps_) t.join();
  ::close(listen_fd_);
}

std::vector<std::string> TcpTap::upstream() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return up_;
}

std::vector<std::string> TcpTap::downstream() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return down_;
}

void TcpTap::accept_loop() {
  while (true) {
    pollfd p{listen_fd_, POLLIN, 0};
    ::poll(&p, 1, 50);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
    }
    if (!(p.revents & POLLIN)) continue;
    int client = ::accept(listen_fd_, nullptr, nullptr);
    if (client < 0) continue;
    int server = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(target_port_));
    if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(client);
      ::close(server);
      continue;
    }
    size_t index;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      index = up_.size();
      up_.emplace_back();
      down_.emplace_back();
    }
    pumps_.emplace_back([this, client, server, index] { pump(client, server, index); });
  }
}

void TcpTap::pump(int client, int server, size_t index) {
  char buffer[65536];
  bool open = true;
  while (open) {
    pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    ::poll(p, 2, 50);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) break;
    }
    for (int side = 0; side < 2 && open; ++side) {
      if (!(p[side].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::recv(p[side].fd, buffer, sizeof buffer, 0);
      if (n <= 0) {
        open = false;
        break;
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        (side == 0 ? up_ : down_)[index].append(buffer, static_cast<size_t>(n));
      }
      int to = side == 0 ? server : client;
      for (ssize_t sent = 0; sent < n;) {
        ssize_t k = ::send(to, buffer + sent, static_cast<size_t>(n - sent), MSG_NOSIGNAL);
        if (k <= 0) {
          open = false;
          break;
        }
        sent += k;
      }
    }
  }
  ::close(client);
  ::close(server);
}

std::vector<std::string> zmtp_messages(const std::string& s, bool* complete) {
  std::vector<std::string> out;
  if (complete) *complete = false;
  // Greeting: signature 0xFF ... 0x7F, version, mechanism, as-server, filler (64 bytes).
  if (s.size() < 64 || static_cast<unsigned char>(s[0]) != 0xFF ||
      static_cast<unsigned char>(s[9]) != 0x7F) {
    return out;
  }
  size_t pos = 64;
  std::string message;
  while (pos < s.size()) {
    unsigned char flags = static_cast<unsigned char>(s[pos++]);
    uint64_t size = 0;
    int size_bytes = (flags & 0x02) ? 8 : 1;
    if (pos + size_bytes > s.size()) return out;
    for (int i = 0; i < size_bytes; ++i) size = (size << 8) | static_cast<unsigned char>(s[pos++]);
    if (pos + size > s.size()) return out;
    std::string body = s.substr(pos, size);
    pos += size;
    if (flags & 0x04) continue;  // a command
    message += body;
    if (!(flags & 0x01)) {
      out.push_back(std::move(message));
      message.clear();
    }
  }
  if (complete) *complete = message.empty();
  return out;
}

}  // namespace fp::testing
