// Messages an agent must get acknowledged (telemetry reports, task statuses):
// kept until the coordinator's Ack names their idempotency key, and resent when
// unacknowledged for too long or after a reconnect. Resending is safe because the
// coordinator stores each key once.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace fp::agent {

class Outbox {
 public:
  using Clock = std::chrono::steady_clock;

  void add(const std::string& key, std::string frame, Clock::time_point now);
  // True if `key` was waiting.
  bool ack(const std::string& key);
  // Frames unacknowledged since before `now - retry` (or all with `all`); marks them sent.
  std::vector<std::string> due(Clock::time_point now, std::chrono::milliseconds retry,
                               bool all = false);
  bool contains(const std::string& key) const { return items_.count(key) != 0; }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }

 private:
  struct Item {
    std::string frame;
    Clock::time_point sent;
    uint64_t order;
  };
  std::map<std::string, Item> items_;
  uint64_t next_order_ = 0;
};

}  // namespace fp::agent
