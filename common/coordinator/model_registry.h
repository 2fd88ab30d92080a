// Model registry: content-addressed artifacts in <dir>/<sha256>.fpm (the SHA-256 of
// the whole file, which is what agents verify after download), metadata in the store.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "store/store.h"
#include "util/status.h"

namespace fp::coord {

class ModelRegistry {
 public:
  ModelRegistry(std::string dir, store::Store& store);
  ~ModelRegistry();
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  const std::string& dir() const { return dir_; }

  // Writes `bytes` (written to a temporary file, then renamed) and records them.
  // Adding the same bytes twice returns the existing record.
  Result<store::ModelRecord> add(const std::string& bytes, const std::string& spec_json,
                                 const std::string& meta_json, double now);

  // The record of a registered model whose file is present with the recorded size.
  Result<store::ModelRecord> find(const std::string& sha256);

  // A registered model's file, mapped read-only once and shared: chunk frames are sent
  // straight from it, each holding the mapping until ZeroMQ has written it. Model files
  // are written once (add) and never changed; one truncated by hand while mapped would
  // fault the coordinator, so every call checks the file's size (a stat), and a file
  // that changed is looked up and mapped again (find() says what is wrong with it).
  struct Mapped {
    const char* data = nullptr;
    uint64_t size = 0;
    std::string path;
    Mapped() = default;
    Mapped(const Mapped&) = delete;
    Mapped& operator=(const Mapped&) = delete;
    ~Mapped();
  };
  Result<std::shared_ptr<const Mapped>> map(const std::string& sha256);
  // The mapping map() made before, if the file still has its size; never asks the store
  // (the serving loop calls it while a commit may hold the connection).
  std::shared_ptr<const Mapped> mapped_before(const std::string& sha256);

  // Re-hashes the file: Status::corruption if it no longer matches its address.
  Status verify(const std::string& sha256);

 private:
  std::string dir_;
  store::Store& store_;
  std::map<std::string, std::shared_ptr<const Mapped>> mapped_;
};

}  // namespace fp::coord
