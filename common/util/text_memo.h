// The last few results of a pure function of a text, kept by that text. Every task of a
// campaign carries the same settings and model spec as JSON, and each of a simulation host's
// thousands of virtual agents parsed them again: ~4 % of their framework's samples in a
// profile of the 10,000-agent benchmark (issue 17). A memo is thread-safe; what it keeps (errors
// too) is what the function returned.
#pragma once

#include <cstddef>
#include <deque>
#include <iterator>
#include <mutex>
#include <string>
#include <utility>

namespace fp {

template <typename T>
class TextMemo {
 public:
  explicit TextMemo(size_t capacity = 8) : capacity_(capacity == 0 ? 1 : capacity) {}

  // f(text) the first time; a copy of the kept result while `text` is among the
  // `capacity` texts asked for most recently. f runs without the memo's lock held.
  template <typename F>
  T get(const std::string& text, F&& f) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        if (it->first != text) continue;
        if (std::next(it) != entries_.end()) {  // the most recent goes last
          auto entry = std::move(*it);
          entries_.erase(it);  // before the push, which invalidates a deque's iterators
          entries_.push_back(std::move(entry));
        }
        return entries_.back().second;
      }
    }
    T value = f(text);
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& entry : entries_)
      if (entry.first == text) return value;  // another thread kept it meanwhile
    if (entries_.size() >= capacity_) entries_.pop_front();
    entries_.emplace_back(text, value);
    return value;
  }

  size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_.size();
  }

 private:
  const size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<std::pair<std::string, T>> entries_;  // least recently asked for first
};

}  // namespace fp
