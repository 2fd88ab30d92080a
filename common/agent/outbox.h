// Messages an agent must get acknowledged (telemetry reports, task statuses):
// kept until the coordinator's Ack names their idempotency key, and resent when
// unacknowledged for too long or after a reconnect. Resending is safe because the
// coordinator stores each key once.
//
// With a folder, every message is also a file there until acknowledged, so an agent
// that exits (or dies) before the coordinator answered resends it on its next start.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "util/status.h"

namespace fp::agent {

class Outbox {
 public:
  using Clock = std::chrono::steady_clock;

  Outbox() = default;
  // Kept on disk in `dir` (created); load() brings back what a previous run left.
  explicit Outbox(std::string dir) : dir_(std::move(dir)) {}
  // Loads the messages left in the folder, oldest first; returns how many.
  Result<size_t> load(Clock::time_point now);
  const std::string& dir() const { return dir_; }

  // `database`: the coordinator database the message was made for (Welcome's databaseId;
  // "" when unknown), kept with it on disk.
  // `closes_task`: the task a TaskStatus or TaskResult frame ends (0 for a report).
  void add(const std::string& key, std::string frame, Clock::time_point now,
           const std::string& database = "", uint64_t closes_task = 0);
  // Drops the messages made for a database other than `database` (those made for none are
  // kept); returns how many. A coordinator on another database must not get them: its task
  // ids name other tasks, and their keys would shadow its own tasks' messages.
  size_t drop_made_for_others(const std::string& database);
  // True if `key` was waiting.
  bool ack(const std::string& key);
  // Frames unacknowledged since before `now - retry` (or all with `all`); marks them sent.
  std::vector<std::string> due(Clock::time_point now, std::chrono::milliseconds retry,
                               bool all = false);
  // When the oldest frame sent becomes due again (nullopt when nothing waits).
  std::optional<Clock::time_point> next_due(std::chrono::milliseconds retry) const;
  // The task whose closing message (status or result) waits, the newest if several; 0 for
  // none. A restarted agent names it in its Hello, so the coordinator keeps the task with
  // it until the resent result arrives instead of handing it out again.
  uint64_t closing_task() const;
  bool contains(const std::string& key) const { return items_.count(key) != 0; }
  size_t size() const { return items_.size(); }
  // How many of them are in the outbox folder (a full disk keeps one in memory only).
  size_t on_disk() const;
  bool empty() const { return items_.empty(); }

 private:
  struct Item {
    std::string frame;
    Clock::time_point sent;
    uint64_t order;
    std::string database;
    uint64_t closes_task = 0;
    bool on_disk = false;  // written to the outbox folder
  };
  std::string file_for(const std::string& key) const;
  std::string dir_;
  std::map<std::string, Item> items_;
  uint64_t next_order_ = 0;
};

}  // namespace fp::agent
