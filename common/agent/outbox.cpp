#include "agent/outbox.h"

#include <algorithm>

namespace fp::agent {

void Outbox::add(const std::string& key, std::string frame, Clock::time_point now) {
  items_[key] = Item{std::move(frame), now, next_order_++};
}

bool Outbox::ack(const std::string& key) { return items_.erase(key) != 0; }

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

}  // namespace fp::agent
