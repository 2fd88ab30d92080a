#include "coordinator/commit_worker.h"

#include <utility>

#include "coordinator/inproc_pair.h"
#include "util/thread_name.h"

namespace fp::coord {

CommitWorker::CommitWorker(zmq::context_t& context) {
  InprocPair pair = make_inproc_pair(context, "fp-commit-worker");
  loop_end_ = std::move(pair.loop_end);
  worker_end_ = std::move(pair.helper_end);
  thread_ = std::thread([this] {
    set_thread_name("fp-commit");
    run();
  });
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
