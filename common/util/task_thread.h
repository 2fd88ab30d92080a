// One thread that runs the jobs posted to it, one at a time, in the order they came. For
// a program that runs many short jobs off its own thread one after another (a simulation
// host slot's agents, each computing one task): a thread each cost its creation and
// teardown every time (issue 17: those threads had 44 samples beside their sessions' 149 in
// a profile of the 10,000-agent benchmark).
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
  ~TaskThread();                          // runs what was posted, then joins
  TaskThread(const TaskThread&) = delete;
  TaskThread& operator=(const TaskThread&) = delete;

  // Queues `job`; it runs after those posted before it. A job must not throw.
  void post(std::function<void()> job);

 private:
  void loop();

  std::string name_;
  std::mutex mutex_;
  std::condition_variable posted_;
  std::deque<std::function<void()>> jobs_;
  bool quit_ = false;
  std::thread thread_;  // last: starts once the rest is made
};

}  // namespace fp
