// One long-lived thread that runs the jobs posted to it, one at a time, in the order they
// came. A simulation host's slot runs its virtual agents one after another, each with one
// task: their tasks run on the slot's TaskThread instead of on a thread each task would
// start and end (docs/SIMULATIONS.md).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace fp {

class TaskThread {
 public:
  explicit TaskThread(std::string name);  // the thread's name (util/thread_name.h)
  ~TaskThread();                          // runs the jobs already posted, then joins
  TaskThread(const TaskThread&) = delete;
  TaskThread& operator=(const TaskThread&) = delete;

  void post(std::function<void()> job);  // thread-safe; a job must not throw

 private:
  void work(const std::string& name);

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool quit_ = false;
  std::thread thread_;
};

}  // namespace fp
