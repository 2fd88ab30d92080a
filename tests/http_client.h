// A minimal blocking HTTP/1.1 client for tests: one request per connection
// (Connection: close), so the reply is everything up to EOF.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <sstream>
#include <string>

namespace fp::testing {

struct HttpResult {
  int status = 0;                              // 0: no reply (connection refused or closed)
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// A connected loopback socket, or -1.
inline int connect_loopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends `raw` as is and parses what comes back.
inline HttpResult http_raw(uint16_t port, const std::string& raw) {
  HttpResult result;
  int fd = connect_loopback(port);
  if (fd < 0) return result;
  ::send(fd, raw.data(), raw.size(), MSG_NOSIGNAL);
  std::string reply;
  char buf[65536];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<size_t>(n));
  ::close(fd);
  size_t head_end = reply.find("\r\n\r\n");
  if (reply.compare(0, 5, "HTTP/") != 0 || head_end == std::string::npos) return result;
  std::istringstream head(reply.substr(0, head_end));
  std::string line, version;
  std::getline(head, line);
  std::istringstream(line) >> version >> result.status;
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    result.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
  }
  result.body = reply.substr(head_end + 4);
  return result;
}

inline HttpResult http_request(uint16_t port, const std::string& method,
                               const std::string& target) {
  return http_raw(
      port, method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
}

inline HttpResult http_get(uint16_t port, const std::string& target) {
  return http_request(port, "GET", target);
}

}  // namespace fp::testing
