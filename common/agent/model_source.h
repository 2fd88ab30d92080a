// Where a task's verified general model is, as the agent hands it to its task runner:
// a file (a device's download, kept across restarts), or the artifact's bytes in memory
// (a simulated device's download, which nothing needs to outlive the task).
#pragma once

#include <memory>
#include <string>
#include <utility>

namespace fp::agent {

struct ModelSource {
  ModelSource(std::string file) : path(std::move(file)) {}  // NOLINT: a path is a source
  ModelSource(std::string label, std::shared_ptr<const std::string> artifact,
              std::string verified_sha256 = {})
      : path(std::move(label)), bytes(std::move(artifact)), sha256(std::move(verified_sha256)) {}

  bool in_memory() const { return bytes != nullptr; }

  std::string path;                          // the file; in memory, a name for messages
  std::shared_ptr<const std::string> bytes;  // the artifact itself, or null: read `path`
  // In memory: the SHA-256 (hex) the bytes were verified to hash to, or empty if nobody
  // checked (then nothing may treat them as that model's).
  std::string sha256;
};

}  // namespace fp::agent
