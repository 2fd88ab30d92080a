// CommitWorker: one background thread for the serving loop's commits.
//
// The loop hands it a burst's telemetry writes and goes on receiving and decoding the
// next burst while SQLite inserts and commits (issue 17, item 5: that was a serial chain
// on one thread). One job at a time; when a job ends, one byte arrives on socket(), which
// the loop polls beside its ROUTER, so it sends the job's replies from its own thread.
// The worker and the loop never use the store at once: the loop waits for the job in
// flight before its own next store access (Server::store()).
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <zmq.hpp>

#include "util/status.h"

namespace fp::coord {

class CommitWorker {
 public:
  explicit CommitWorker(zmq::context_t& context);
  ~CommitWorker();  // waits for the job in flight
  CommitWorker(const CommitWorker&) = delete;
  CommitWorker& operator=(const CommitWorker&) = delete;

  // Runs `job` on the worker's thread. Call only when !busy().
  void submit(std::function<Status()> job);
  // A job was submitted and its result not yet taken by wait().
  bool busy() const { return busy_; }
  // Blocks until the job submitted last has finished; returns its status and makes the
  // worker idle. Without a job in flight: ok at once.
  Status wait();
  // One byte arrives here when a job has finished (the loop polls it; drain_notes()
  // empties it).
  zmq::socket_t& socket() { return loop_end_; }
  void drain_notes();

 private:
  void run();

  zmq::socket_t loop_end_, worker_end_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::function<Status()> job_;  // guarded by mutex_
  Status result_;                // guarded by mutex_
  bool pending_ = false;         // a job waits to run (mutex_)
  bool done_ = false;            // the job has finished (mutex_)
  bool quit_ = false;            // mutex_
  bool busy_ = false;            // loop thread only
  std::thread thread_;
};

}  // namespace fp::coord
