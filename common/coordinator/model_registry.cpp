#include "coordinator/model_registry.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "protocol/validate.h"
#include "util/file_io.h"
#include "util/sha256.h"

namespace fp::coord {
namespace fs = std::filesystem;

ModelRegistry::ModelRegistry(std::string dir, store::Store& store)
    : dir_(std::move(dir)), store_(store) {}

ModelRegistry::~ModelRegistry() = default;

ModelRegistry::Mapped::~Mapped() {
  if (data) ::munmap(const_cast<char*>(data), size);
}

Result<store::ModelRecord> ModelRegistry::add(const std::string& bytes,
                                              const std::string& spec_json,
                                              const std::string& meta_json, double now) {
  std::string sha = sha256_hex(bytes);
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return Status::io_error("creating model directory " + dir_ + ": " + ec.message());
  std::string path = (fs::path(dir_) / (sha + ".fpm")).string();
  FP_RETURN_IF_ERROR(replace_file(path, bytes, "model file"));
  store::ModelRecord record{sha, static_cast<int64_t>(bytes.size()), spec_json, meta_json, path,
                            now};
  FP_RETURN_IF_ERROR(store_.put_model(record));
  return find(sha);
}

Result<store::ModelRecord> ModelRegistry::find(const std::string& sha256) {
  if (!proto::is_sha256_hex(sha256)) {
    return Status::invalid_argument("'" + sha256 + "' is not a SHA-256 model id");
  }
  FP_ASSIGN_OR_RETURN(auto record, store_.find_model(sha256));
  if (!record) return Status::not_found("model " + sha256 + " is not registered");
  std::error_code ec;
  // The recorded path is as the registry's folder was given when the model was added
  // (often relative): a folder moved since, or reached from another working directory (a
  // run folder resumed from elsewhere), still holds the file under its content address, and
  // that copy is the one to use (a copied run folder read the original's through the path).
  const std::string here = (fs::path(dir_) / (sha256 + ".fpm")).string();
  if (fs::exists(here, ec)) record->path = here;
  auto size = fs::file_size(record->path, ec);
  if (ec) {
    return Status::not_found("model file " + record->path + ": " + ec.message() +
                             (here != record->path ? " (nor " + here + ")" : ""));
  }
  if (static_cast<int64_t>(size) != record->size_bytes) {
    return Status::corruption("model file " + record->path + " has " + std::to_string(size) +
                              " bytes, the registry expects " + std::to_string(record->size_bytes));
  }
  return *record;
}

std::shared_ptr<const ModelRegistry::Mapped> ModelRegistry::mapped_before(
    const std::string& sha256) {
  auto it = mapped_.find(sha256);
  if (it == mapped_.end()) return nullptr;
  std::error_code ec;
  if (fs::file_size(it->second->path, ec) == it->second->size && !ec) return it->second;
  mapped_.erase(it);  // chunks in flight keep the old mapping alive until sent
  return nullptr;
}

Result<std::shared_ptr<const ModelRegistry::Mapped>> ModelRegistry::map(const std::string& sha256) {
  if (auto before = mapped_before(sha256)) return before;
  FP_ASSIGN_OR_RETURN(auto record, find(sha256));
  if (record.size_bytes <= 0) return Status::corruption("model file " + record.path + " is empty");
  int fd = ::open(record.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::io_error("opening " + record.path + ": " + std::strerror(errno));
  auto size = static_cast<uint64_t>(record.size_bytes);
  void* data = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);  // the mapping keeps the file
  if (data == MAP_FAILED) {
    return Status::io_error("mapping " + record.path + ": " + std::strerror(errno));
  }
  auto mapped = std::make_shared<Mapped>();
  mapped->data = static_cast<const char*>(data);
  mapped->size = size;
  mapped->path = record.path;
  mapped_.emplace(sha256, mapped);
  return std::shared_ptr<const Mapped>(mapped);
}

Status ModelRegistry::verify(const std::string& sha256) {
  // Hashes the file on disk, not the mapping: a file replaced since it was mapped counts.
  FP_ASSIGN_OR_RETURN(auto record, find(sha256));
  FP_ASSIGN_OR_RETURN(std::string actual, sha256_file_hex(record.path));
  if (actual != sha256) {
    return Status::corruption("model file for " + sha256 + " now hashes to " + actual);
  }
  return Status::ok_status();
}

}  // namespace fp::coord
