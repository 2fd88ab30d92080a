#include "agent/outbox.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include "protocol/codec.h"
#include "protocol/limits.h"
#include "protocol/validate.h"
#include "util/file_io.h"
#include "util/sha256.h"

namespace fp::agent {

namespace fs = std::filesystem;

namespace {
// Before a message file's frame checksum in its header (files of older agents have none).
constexpr const char* kChecksumTag = "sha256=";
}  // namespace

std::string Outbox::file_for(const std::string& key) const {
  return (fs::path(dir_) / (sha256_hex(key) + ".msg")).string();
}

void Outbox::add(const std::string& key, std::string frame, Clock::time_point now,
                 const std::string& database, uint64_t closes_task) {
  bool on_disk = false;
  if (!dir_.empty()) {
    // "<order> <key> sha256=<frame's>[ <database>]\n<frame>", written beside and renamed:
    // never half a message; the checksum finds one changed on disk.
    std::error_code ec;
    fs::create_directories(dir_, ec);  // its own error: the file's would say "No such file"
    Status written =
        ec ? Status::io_error("cannot create the outbox folder " + dir_ + ": " + ec.message())
           : Status::ok_status();
    // Not flushed to disk (one per report): after the agent crashes, a restart finds it whole
    // or not at all; after a power cut it may be empty, and load() leaves it alone.
    if (written.ok())
      written = replace_file(file_for(key),
                             std::to_string(next_order_) + ' ' + key + " " + kChecksumTag +
                                 sha256_hex(frame) + (database.empty() ? "" : " " + database) +
                                 '\n' + frame,
                             "outbox message", /*durable=*/false);
    if (!written.ok())
      spdlog::warn("outbox: {}: a restart would not resend it", written.to_string());
    on_disk = written.ok();
  }
  items_[key] = Item{std::move(frame), now, next_order_++, database, closes_task, on_disk};
}

size_t Outbox::on_disk() const {
  size_t n = 0;
  for (const auto& [key, item] : items_) n += item.on_disk ? 1 : 0;
  return n;
}

uint64_t Outbox::closing_task() const {
  const Item* newest = nullptr;
  for (const auto& [key, item] : items_) {
    if (item.closes_task != 0 && (!newest || item.order > newest->order)) newest = &item;
  }
  return newest ? newest->closes_task : 0;
}

namespace {

// The task a decoded outbox message ends (0: it ends none).
uint64_t task_closed_by(const proto::Message& message) {
  if (const auto* status = std::get_if<proto::TaskStatus>(&message)) return status->task_id;
  if (const auto* result = std::get_if<proto::TaskResult>(&message)) return result->status.task_id;
  return 0;
}

// Why a message file's frame cannot be resent as it is ("" when it can); `closes_task`
// receives the task it ends.
std::string damage_of(const std::string& key, const std::string& checksum, const std::string& frame,
                      uint64_t& closes_task) {
  if (!checksum.empty() && sha256_hex(frame) != checksum)
    return "its frame does not match the checksum it was written with";
  auto decoded = proto::decode(frame, proto::kMaxAgentFrameBytes);
  if (!decoded.ok()) return decoded.status().message();
  if (Status valid = proto::validate_agent_message(*decoded); !valid.ok()) return valid.message();
  if (const std::string own = proto::idempotency_key_of(*decoded); own != key)
    return "its frame's key '" + own + "' is not the file's '" + key + "'";
  closes_task = task_closed_by(*decoded);
  return "";
}

}  // namespace

bool Outbox::ack(const std::string& key) {
  if (items_.erase(key) == 0) return false;
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove(file_for(key), ec);
  }
  return true;
}

size_t Outbox::drop_made_for_others(const std::string& database) {
  std::vector<std::string> others;
  for (const auto& [key, item] : items_) {
    if (!item.database.empty() && item.database != database) others.push_back(key);
  }
  for (const auto& key : others) ack(key);
  return others.size();
}

Result<size_t> Outbox::load(Clock::time_point now) {
  if (dir_.empty()) return size_t{0};
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return size_t{0};
  struct Loaded {
    uint64_t order;
    std::string key, frame, database;
    uint64_t closes_task = 0;
  };
  std::vector<Loaded> loaded;
  std::vector<fs::path> damaged;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().find(".msg.tmp") != std::string::npos) {
      std::error_code remove_ec;  // half written when its agent stopped: never to be sent
      fs::remove(it->path(), remove_ec);
      continue;
    }
    if (it->path().extension() != ".msg") continue;
    std::ifstream in(it->path(), std::ios::binary);
    Loaded l;
    std::string head;
    const auto space = std::getline(in, head) ? head.find(' ') : std::string::npos;
    try {
      if (space == std::string::npos) throw std::invalid_argument("no header");
      l.order = std::stoull(head.substr(0, space));
    } catch (const std::exception&) {
      spdlog::warn("outbox: {} is not an outbox message (no '<order> <key>' line); left alone",
                   it->path().string());
      continue;
    }
    // After the order: the key, then the checksum and the database, each optional (keys hold
    // no space: protocol identifiers).
    std::istringstream words(head.substr(space + 1));
    std::string word, checksum;
    words >> l.key;
    while (words >> word) {
      if (word.rfind(kChecksumTag, 0) == 0)
        checksum = word.substr(std::string(kChecksumTag).size());
      else
        l.database = word;
    }
    l.frame.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    // Damaged on disk: resent, it would be stored with what the damage made of it, or earn
    // an error from the coordinator at every resend, for ever. Kept for a look, not sent.
    const std::string why = damage_of(l.key, checksum, l.frame, l.closes_task);
    if (!why.empty()) {
      spdlog::warn("outbox: {} holds a damaged message ({}); kept as {}.bad, not resent",
                   it->path().string(), why, it->path().filename().string());
      damaged.push_back(it->path());
      continue;
    }
    loaded.push_back(std::move(l));
  }
  for (const auto& path : damaged) {
    std::error_code rename_ec;
    fs::rename(path, path.string() + ".bad", rename_ec);
  }
  if (ec) return Status::io_error("outbox " + dir_ + ": " + ec.message());
  std::sort(loaded.begin(), loaded.end(),
            [](const Loaded& a, const Loaded& b) { return a.order < b.order; });
  for (auto& l : loaded) {
    items_[l.key] =
        Item{std::move(l.frame), now, next_order_++, std::move(l.database), l.closes_task, true};
  }
  // Files keep their old order numbers; new ones continue after them.
  if (!loaded.empty()) next_order_ = std::max(next_order_, loaded.back().order + 1);
  return loaded.size();
}

std::vector<std::string> Outbox::due(Clock::time_point now, std::chrono::milliseconds retry,
                                     bool all) {
  // In the order they were first added, so a task's reports precede its status.
  std::vector<Item*> picked;
  for (auto& [key, item] : items_) {
    if (all || now - item.sent >= retry) picked.push_back(&item);
  }
  std::sort(picked.begin(), picked.end(),
            [](const Item* a, const Item* b) { return a->order < b->order; });
  std::vector<std::string> frames;
  for (Item* item : picked) {
    item->sent = now;
    frames.push_back(item->frame);
  }
  return frames;
}

std::optional<Outbox::Clock::time_point> Outbox::next_due(std::chrono::milliseconds retry) const {
  std::optional<Clock::time_point> earliest;
  for (const auto& [key, item] : items_) {
    if (!earliest || item.sent < *earliest) earliest = item.sent;
  }
  if (earliest) *earliest += retry;
  return earliest;
}

}  // namespace fp::agent
