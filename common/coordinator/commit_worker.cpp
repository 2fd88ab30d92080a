#include "coordinator/commit_worker.h"

#include <atomic>
#include <string>

namespace fp::coord {
namespace {
std::atomic<int> next_worker_id{0};
}

CommitWorker::CommitWorker(zmq::context_t& context)
    : loop_end_(context, zmq::socket_type::pair), worker_end_(context, zmq::socket_type::pair) {
  std::string address = "inproc://fp-commit-worker-" + std::to_string(next_worker_id++);
  loop_end_.set(zmq::sockopt::linger, 0);
  loop_end_.bind(address);
  worker_end_.set(zmq::sockopt::linger, 0);
  worker_end_.connect(address);
  thread_ = std::thread([this] { run(); });
}

CommitWorker::~CommitWorker() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
  }
  cv_.notify_all();
  thread_.join();  // runs a pending job to its end first
}

void CommitWorker::submit(std::function<Status()> job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = std::move(job);
    pending_ = true;
    done_ = false;
  }
  busy_ = true;
  cv_.notify_all();
}

Status CommitWorker::wait() {
  if (!busy_) return Status::ok_status();
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [this] { return done_; });
  busy_ = false;
  done_ = false;
  return std::move(result_);
}

void CommitWorker::drain_notes() {
  zmq::message_t note;
  while (loop_end_.recv(note, zmq::recv_flags::dontwait)) {
  }
}

void CommitWorker::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return pending_ || quit_; });
    if (!pending_) return;  // quit, nothing left to run
    auto job = std::move(job_);
    pending_ = false;
    lock.unlock();
    Status result = job();
    lock.lock();
    result_ = std::move(result);
    done_ = true;
    cv_.notify_all();
    // The note only wakes the loop; the result is read under the mutex. A full
    // queue (the loop has not read earlier notes) loses nothing.
    try {
      char note = 'C';
      worker_end_.send(zmq::const_buffer(&note, 1), zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
    }
  }
}

}  // namespace fp::coord
