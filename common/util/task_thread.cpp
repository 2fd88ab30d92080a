#include "util/task_thread.h"

#include <utility>

#include "util/thread_name.h"

namespace fp {

TaskThread::TaskThread(std::string name) : name_(std::move(name)), thread_([this] { loop(); }) {}

TaskThread::~TaskThread() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
  }
  posted_.notify_one();
  thread_.join();
}

void TaskThread::post(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back(std::move(job));
  }
  posted_.notify_one();
}

void TaskThread::loop() {
  set_thread_name(name_.c_str());
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    posted_.wait(lock, [this] { return quit_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // quit_, with nothing left to run
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();
    job = nullptr;  // what it holds (a task's model bytes) is freed without the lock
    lock.lock();
  }
}

}  // namespace fp
