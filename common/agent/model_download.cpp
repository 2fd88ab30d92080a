#include "agent/model_download.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>

#include "util/sha256.h"

namespace fp::agent {
namespace fs = std::filesystem;

ModelDownload::ModelDownload(std::string sha256, uint64_t size, std::string dir,
                             uint32_t chunk_size, uint32_t credit, bool durable)
    : sha256_(std::move(sha256)),
      size_(size),
      dir_(std::move(dir)),
      chunk_size_(chunk_size ? chunk_size : 1),
      credit_(credit ? credit : 1),
      durable_(durable) {}

ModelDownload::~ModelDownload() {
  if (fd_ >= 0) ::close(fd_);
}

Result<int> trim_model_cache(const std::string& dir, const std::string& in_use, size_t keep) {
  if (keep == 0) return 0;
  auto is_sha = [](const std::string& s) {
    return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
  };
  std::map<std::string, fs::file_time_type> used;  // sha -> its files' latest write
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    const std::string sha = p.stem().string();
    if ((p.extension() != ".fpm" && p.extension() != ".part") || !is_sha(sha)) continue;
    std::error_code time_ec;
    const auto t = fs::last_write_time(p, time_ec);
    if (time_ec) continue;
    auto [at, fresh] = used.emplace(sha, t);
    if (!fresh) at->second = std::max(at->second, t);
  }
  if (ec) return Status::io_error("cannot list " + dir + ": " + ec.message());
  std::vector<std::pair<fs::file_time_type, std::string>> others;  // newest first
  for (const auto& [sha, t] : used)
    if (sha != in_use) others.emplace_back(t, sha);
  std::sort(others.begin(), others.end(), std::greater<>());
  const size_t keep_others = used.count(in_use) ? keep - 1 : keep;
  int removed = 0;
  for (size_t i = keep_others; i < others.size(); ++i) {
    for (const char* ext : {".fpm", ".part"}) {
      const fs::path p = fs::path(dir) / (others[i].second + ext);
      std::error_code rm;
      fs::remove(p, rm);
      if (rm) return Status::io_error("cannot remove " + p.string() + ": " + rm.message());
    }
    ++removed;
  }
  return removed;
}

std::string ModelDownload::path() const {
  if (in_memory()) return "model " + sha256_.substr(0, 12) + " (in memory)";
  return (fs::path(dir_) / (sha256_ + ".fpm")).string();
}

ModelSource ModelDownload::source() const {
  // The hash is vouched for once verify() passed or reuse() gave bytes verified before.
  if (in_memory())
    return ModelSource(path(), verified_ ? verified_ : bytes_, done_ || verified_ ? sha256_ : "");
  return ModelSource(path());
}
std::string ModelDownload::part_path() const {
  return (fs::path(dir_) / (sha256_ + ".part")).string();
}

Status ModelDownload::start() {
  if (in_memory() && verified_) {
    done_ = true;
    received_ = size_;
    return Status::ok_status();
  }
  if (in_memory()) {
    // Grown as chunks arrive, so a size the coordinator misstated costs nothing.
    bytes_ = std::make_shared<std::string>();
    bytes_->reserve(static_cast<size_t>(std::min<uint64_t>(size_, uint64_t{64} << 20)));
    next_offset_ = received_ = hashed_ = 0;
    hasher_ = std::make_unique<Sha256>();
    in_order_ = true;
    return Status::ok_status();
  }
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return Status::io_error("creating " + dir_ + ": " + ec.message());
  if (fs::exists(path())) {
    auto hash = sha256_file_hex(path());
    if (hash.ok() && *hash == sha256_) {
      done_ = true;
      received_ = size_;
      fs::last_write_time(path(), fs::file_time_type::clock::now(), ec);  // used now
      return Status::ok_status();
    }
    fs::remove(path(), ec);  // a damaged cached copy is never used
  }
  fd_ = ::open(part_path().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) return Status::io_error("opening " + part_path() + ": " + std::strerror(errno));
  // Resume after the whole chunks an interrupted run left; the hash check at the
  // end catches anything wrong in them.
  off_t existing = ::lseek(fd_, 0, SEEK_END);
  uint64_t whole = existing > 0 ? (static_cast<uint64_t>(existing) / chunk_size_) * chunk_size_ : 0;
  whole = std::min<uint64_t>(whole, size_);
  if (::ftruncate(fd_, static_cast<off_t>(whole)) != 0) {
    return Status::io_error("truncating " + part_path() + ": " + std::strerror(errno));
  }
  // A device without room for the model says so now, not after fetching what fits.
  const fs::space_info space = fs::space(dir_, ec);
  if (!ec && space.available < size_ - whole) {
    return Status::io_error("no room for the model in " + dir_ + ": " +
                            std::to_string(space.available) + " bytes free, " +
                            std::to_string(size_ - whole) + " needed");
  }
  next_offset_ = whole;
  received_ = whole;
  hasher_ = std::make_unique<Sha256>();
  hashed_ = 0;
  in_order_ = true;
  if (whole > 0) {
    std::string buffer(1 << 20, '\0');
    while (hashed_ < whole) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(buffer.size(), whole - hashed_));
      if (::pread(fd_, &buffer[0], n, static_cast<off_t>(hashed_)) != static_cast<ssize_t>(n)) {
        return Status::io_error("reading " + part_path() + ": " + std::strerror(errno));
      }
      hasher_->update(buffer.data(), n);
      hashed_ += n;
    }
  }
  return Status::ok_status();
}

std::vector<proto::ChunkRequest> ModelDownload::next_requests() {
  std::vector<proto::ChunkRequest> out;
  while (!done_ && in_flight_.size() < credit_ && next_offset_ < size_) {
    uint32_t length = static_cast<uint32_t>(std::min<uint64_t>(chunk_size_, size_ - next_offset_));
    in_flight_[next_offset_] = length;
    out.push_back({sha256_, next_offset_, length});
    next_offset_ += length;
  }
  return out;
}

Status ModelDownload::on_chunk(const proto::ChunkView& chunk) {
  if (chunk.sha256 != sha256_) return Status::ok_status();
  auto it = in_flight_.find(chunk.offset);
  if (it == in_flight_.end()) return Status::ok_status();
  if (chunk.total_size != size_) {
    restart();
    return Status::protocol("chunk says model " + sha256_ + " has " +
                            std::to_string(chunk.total_size) + " bytes, the task said " +
                            std::to_string(size_));
  }
  if (chunk.data.size() != it->second) {
    restart();
    return Status::protocol("chunk at " + std::to_string(chunk.offset) + " has " +
                            std::to_string(chunk.data.size()) + " bytes, asked for " +
                            std::to_string(it->second));
  }
  if (in_memory()) {
    const size_t end = static_cast<size_t>(chunk.offset) + chunk.data.size();
    if (bytes_->size() < end) bytes_->resize(end);
    std::memcpy(&(*bytes_)[chunk.offset], chunk.data.data(), chunk.data.size());
  }
  size_t done = 0;
  while (!in_memory() && done < chunk.data.size()) {
    ssize_t n = ::pwrite(fd_, chunk.data.data() + done, chunk.data.size() - done,
                         static_cast<off_t>(chunk.offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::io_error("writing " + part_path() + ": " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  received_ += chunk.data.size();
  in_flight_.erase(it);
  if (in_order_ && chunk.offset == hashed_) {
    hasher_->update(chunk.data.data(), chunk.data.size());
    hashed_ += chunk.data.size();
  } else {
    in_order_ = false;
  }
  return Status::ok_status();
}

void ModelDownload::reset_in_flight() {
  if (in_flight_.empty()) return;
  // Chunks arrive in request order on one connection, so everything below the
  // first missing offset is on disk; ask again from there.
  uint64_t first = in_flight_.begin()->first;
  in_flight_.clear();
  next_offset_ = first;
  received_ = first;
}

void ModelDownload::restart() {
  ++restarts_;
  in_flight_.clear();
  next_offset_ = 0;
  received_ = 0;
  hasher_ = std::make_unique<Sha256>();
  hashed_ = 0;
  in_order_ = true;
  if (bytes_) bytes_->clear();
  if (fd_ >= 0 && ::ftruncate(fd_, 0) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void ModelDownload::discard_partial() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (in_memory()) return;
  std::error_code ec;
  fs::remove(part_path(), ec);
}

Status ModelDownload::verify() {
  if (!all_received()) return Status::internal("verify() before the download finished");
  if (durable_ && !in_memory() && ::fsync(fd_) != 0)
    return Status::io_error("syncing " + part_path());
  std::string actual;
  if (in_order_ && hashed_ == size_) {
    actual = to_hex(hasher_->finish());
  } else if (in_memory()) {
    actual = sha256_hex(*bytes_);
  } else {
    FP_ASSIGN_OR_RETURN(actual, sha256_file_hex(part_path()));
  }
  if (actual != sha256_) {
    restart();
    return Status::corruption("downloaded model hashes to " + actual + ", expected " + sha256_);
  }
  if (in_memory()) {
    done_ = true;
    return Status::ok_status();
  }
  std::error_code ec;
  fs::rename(part_path(), path(), ec);
  if (ec) return Status::io_error("renaming " + part_path() + ": " + ec.message());
  ::close(fd_);
  fd_ = -1;
  done_ = true;
  return Status::ok_status();
}

}  // namespace fp::agent
