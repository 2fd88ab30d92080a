#include "agent/start_checks.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "protocol/validate.h"
#include "util/file_io.h"
#include "util/random.h"

namespace fp::agent {

namespace fs = std::filesystem;

Status check_agent_id(const std::string& id) {
  // The Hello carrying it is where the coordinator applies the rule.
  const proto::Hello hello{id, proto::kProtocolVersion, {1, 0, {}}, 0, ""};
  Status valid = proto::validate_agent_message(hello);
  if (!valid.ok()) return Status::invalid_argument("agent id '" + id + "': " + valid.message());
  return Status::ok_status();
}

Status check_announced(const std::vector<std::string>& datasets) {
  const proto::Hello hello{"agent", proto::kProtocolVersion, {1, 0, datasets}, 0, ""};
  return proto::validate_agent_message(hello);
}

Result<std::string> stored_or_new_agent_id(const std::string& dir, bool* made) {
  *made = false;
  const fs::path file = fs::path(dir) / "agent.id";
  std::error_code ec;
  if (fs::exists(file, ec)) {
    FP_ASSIGN_OR_RETURN(std::string text, read_file(file.string(), "agent id file"));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (Status valid = check_agent_id(text); !valid.ok())
      return Status::corruption(file.string() + ": " + valid.message() +
                                " (remove the file for a new id, or give --id)");
    return text;
  }
  // Random, with nothing of the device in it: the id is sent to the coordinator and stored
  // in its database with every report. It was made from the host's name, which is often
  // its owner's ("Alice-Smiths-MacBook-Pro"). 64 bits: two of a million devices' ids are
  // the same with a chance of about 3 in 100 million (and the coordinator refuses the
  // second, naming the id in use).
  *made = true;
  return fmt::format("device-{:016x}", random_u64());
}

Status keep_agent_id(const std::string& dir, const std::string& id) {
  return replace_file((fs::path(dir) / "agent.id").string(), id + "\n", "agent id file",
                      /*durable=*/true);
}

Status prepare_work_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::error_code is_dir_ec;  // an unreadable parent: not a folder we can use either
  if (!fs::is_directory(dir, is_dir_ec)) {
    return Status::invalid_argument("work folder " + dir + " is not a folder and cannot be made" +
                                    (ec ? ": " + ec.message() : ""));
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return Status::invalid_argument("work folder " + dir +
                                    " cannot be written to: " + std::strerror(errno));
  }
  // The parts the agent writes into (agent_task.cpp, main.cpp), made when first needed.
  const std::pair<const char*, const char*> parts[] = {{"outbox", "unacknowledged reports"},
                                                       {"models", "the general models' cache"},
                                                       {"personalized", "personalized models"}};
  for (const auto& [name, holds] : parts) {
    const fs::path part = fs::path(dir) / name;
    if (!fs::exists(part, ec)) continue;
    if (!fs::is_directory(part, ec))
      return Status::invalid_argument(
          fmt::format("{} (for {}) is not a folder: move it away, or give another --work-dir",
                      part.string(), holds));
    if (::access(part.c_str(), W_OK | X_OK) != 0)
      return Status::invalid_argument(fmt::format("{} (for {}) cannot be written to: {}",
                                                  part.string(), holds, std::strerror(errno)));
  }
  return Status::ok_status();
}

Status check_work_dir(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) return prepare_work_dir(dir);  // there: nothing is made
  return check_can_make(dir, "work folder");
}

Status check_labels_file(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return Status::not_found("labels file " + path +
                             (fs::exists(path, ec) ? " is not a file" : " does not exist"));
  }
  std::ifstream in(path);
  if (!in)
    return Status::io_error("labels file " + path + " cannot be read: " + std::strerror(errno));
  return Status::ok_status();
}

}  // namespace fp::agent
