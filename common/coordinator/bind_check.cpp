#include "coordinator/bind_check.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <zmq.hpp>

#include "protocol/endpoint.h"

namespace fp::coord {

Status check_server_bind(const ServerConfig& config, store::Store& store, ModelRegistry& registry,
                         const std::function<Status()>& while_bound) {
  namespace fs = std::filesystem;
  // libzmq leaves an ipc:// socket file when the socket closes (a start replaces it).
  const std::string ipc_path = proto::ipc_path(config.endpoint);
  std::error_code ec;
  const bool ipc_made = !ipc_path.empty() && !fs::exists(fs::symlink_status(ipc_path, ec));
  const auto level = spdlog::get_level();
  spdlog::set_level(std::max(level, spdlog::level::warn));
  zmq::context_t context(1);
  Status result = Status::ok_status();
  {
    Server server(config, context, store, registry);
    result = server.bind();
    spdlog::set_level(level);
    if (result.ok() && while_bound) result = while_bound();
    if (ipc_made && fs::exists(fs::symlink_status(ipc_path, ec))) fs::remove(ipc_path, ec);
  }
  return result;
}

}  // namespace fp::coord
