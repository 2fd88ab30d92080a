#include "protocol/endpoint.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string_view>

namespace fp::proto {

Status check_endpoint(const std::string& endpoint, EndpointUse use) {
  auto bad = [&](const std::string& why) {
    return Status::invalid_argument("endpoint '" + endpoint + "': " + why +
                                    " (endpoints look like tcp://host:5555)");
  };
  const size_t scheme_end = endpoint.find("://");
  if (scheme_end == std::string::npos) return bad("no transport (tcp://, ipc://, inproc://)");
  const std::string_view scheme(endpoint.data(), scheme_end);
  const std::string_view rest(endpoint.data() + scheme_end + 3, endpoint.size() - scheme_end - 3);
  if (rest.empty()) return bad("nothing after " + std::string(scheme) + "://");
  // libzmq's other transports (udp, pgm, ws, ...) carry no DEALER/ROUTER pair here: an agent
  // given "http://host" passed its --check and failed at its first connection.
  if (scheme != "tcp" && scheme != "ipc" && scheme != "inproc")
    return bad("unknown transport '" + std::string(scheme) + "://' (tcp://, ipc:// or inproc://)");
  if (scheme != "tcp") return Status::ok_status();

  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return bad("a TCP endpoint needs host:port");
  const std::string_view port = rest.substr(colon + 1);
  if (port == "*") {
    if (use == EndpointUse::kBind) return Status::ok_status();
    return bad("an agent connects to a port, not *");
  }
  const int lowest = use == EndpointUse::kBind ? 0 : 1;
  const std::string range =
      "the port must be a number from " + std::to_string(lowest) + " to 65535";
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != port.npos)
    return bad(range);
  const int number = std::stoi(std::string(port));
  if (number < lowest || number > 65535) return bad(range);
  return Status::ok_status();
}

Status check_program_endpoint(const std::string& endpoint, EndpointUse use) {
  FP_RETURN_IF_ERROR(check_endpoint(endpoint, use));
  if (endpoint.rfind("inproc://", 0) == 0) {
    return Status::invalid_argument(
        "endpoint '" + endpoint +
        "': inproc:// reaches only threads of one process, and the other side is another "
        "program (use tcp://host:port, or ipc:///path on one machine)");
  }
  return Status::ok_status();
}

std::string ipc_path(const std::string& endpoint) {
  static const std::string kIpc = "ipc://";
  if (endpoint.rfind(kIpc, 0) != 0) return "";
  const std::string path = endpoint.substr(kIpc.size());
  return path == "*" ? "" : path;
}

Status check_ipc_path_free(const std::string& endpoint) {
  const std::string path = ipc_path(endpoint);
  struct stat st {};
  if (path.empty() || ::lstat(path.c_str(), &st) != 0) return Status::ok_status();
  if (!S_ISSOCK(st.st_mode)) {
    return Status::invalid_argument("endpoint '" + endpoint + "': " + path +
                                    " exists and is not a socket (binding would delete it)");
  }
  sockaddr_un address{};
  if (path.size() >= sizeof(address.sun_path)) return Status::ok_status();  // libzmq says so
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::ok_status();
  const bool answered = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  if (!answered) return Status::ok_status();  // stale: nobody accepts there any more
  return Status::unavailable("endpoint '" + endpoint + "': a running program serves " + path +
                             " (binding would take the path from it)");
}

std::string bindable_endpoint(const std::string& endpoint) {
  static const std::string kLocalhost = "tcp://localhost:";
  if (endpoint.rfind(kLocalhost, 0) != 0) return endpoint;
  return "tcp://127.0.0.1:" + endpoint.substr(kLocalhost.size());
}

}  // namespace fp::proto
