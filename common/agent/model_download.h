// One model download with credit-based flow control (the ZeroMQ guide's file
// transfer pattern): at most `credit` chunk requests are in flight; each chunk
// that arrives frees a credit for the next request. Bytes go to <dir>/<sha>.part
// and become <dir>/<sha>.fpm only after the whole file hashes to <sha>. A partial
// file left by an interrupted download is resumed; a file that fails verification
// is deleted and fetched again from the start. With no `dir` the bytes stay in
// memory (simulated devices, whose folders are scratch): nothing to resume, no file.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/model_source.h"
#include "protocol/messages.h"
#include "util/sha256.h"
#include "util/status.h"

namespace fp::agent {

// Removes the general models cached in `dir` (<sha>.fpm, and the <sha>.part of a download
// that never finished) but `in_use` and the others used most recently, `keep` in all (a
// model start() finds counts as used then), so a device's cache does not grow with every
// campaign; 0 keeps all. Other files are left alone. Returns how many models it removed.
Result<int> trim_model_cache(const std::string& dir, const std::string& in_use, size_t keep);

class ModelDownload {
 public:
  // `durable`: fsync the file before verifying it (AgentConfig::durable_downloads).
  // An empty `dir`: the download is kept in memory.
  ModelDownload(std::string sha256, uint64_t size, std::string dir, uint32_t chunk_size,
                uint32_t credit, bool durable = true);
  ~ModelDownload();
  ModelDownload(const ModelDownload&) = delete;
  ModelDownload& operator=(const ModelDownload&) = delete;

  // Opens the partial file (resuming from whole chunks already there), or finds the
  // model already downloaded and verified: then done() is true at once. IOError when the
  // folder's file system has no room for the rest of the model.
  Status start();
  // In memory: this model's bytes as an earlier task of the agent verified them, so
  // start() finds it done, as a file download finds <sha>.fpm already there. Before start().
  void reuse(std::shared_ptr<const std::string> verified) { verified_ = std::move(verified); }

  // Requests to send now, filling the free credit.
  std::vector<proto::ChunkRequest> next_requests();
  // Stores a chunk. A chunk nobody asked for (stale, duplicate) is ignored; a chunk
  // that contradicts the request (wrong size or total) restarts the download (restarts()
  // counts it) and is a Protocol error; a failed write is an IOError (the download stands).
  // The bytes are written (and hashed) straight from the received frame.
  Status on_chunk(const proto::ChunkView& chunk);
  Status on_chunk(const proto::Chunk& chunk) { return on_chunk(proto::view_of(chunk)); }
  // Forgets requests in flight (lost with a connection) so they are asked again.
  void reset_in_flight();

  // True when every byte arrived; then verify().
  bool all_received() const { return next_offset_ >= size_ && in_flight_.empty(); }
  // Hashes the file. On success the model is at path(); on mismatch the partial
  // file is removed, the download restarts, and the error says what was wrong.
  Status verify();
  bool done() const { return done_; }
  // Closes and removes the partial file (a download given up: its room is freed).
  void discard_partial();

  const std::string& sha256() const { return sha256_; }
  bool in_memory() const { return dir_.empty(); }
  std::string path() const;  // <dir>/<sha>.fpm; in memory, "model <sha>" (for messages)
  // The verified model for the task runner: path(), or the bytes in memory.
  ModelSource source() const;
  uint64_t received_bytes() const { return received_; }
  int restarts() const { return restarts_; }

 private:
  std::string part_path() const;
  void restart();

  std::string sha256_;
  uint64_t size_;
  std::string dir_;
  uint32_t chunk_size_, credit_;
  bool durable_;
  int fd_ = -1;
  std::shared_ptr<std::string> bytes_;           // in memory: what arrived, at its offsets
  std::shared_ptr<const std::string> verified_;  // in memory: reuse()d, already verified
  uint64_t next_offset_ = 0;                     // next offset to request
  std::map<uint64_t, uint32_t> in_flight_;       // offset -> requested length
  uint64_t received_ = 0;
  // Chunks arrive in order, so the hash is computed as they are written; the file is
  // read back only if something arrived out of order.
  std::unique_ptr<Sha256> hasher_;
  uint64_t hashed_ = 0;  // bytes [0, hashed_) are in hasher_
  bool in_order_ = true;
  bool done_ = false;
  int restarts_ = 0;
};

}  // namespace fp::agent
