// LoopWaker: Boost.Asio timers and signal handling for a ZeroMQ poll loop.
//
// An io_context on its own thread owns a periodic steady_timer and (optionally) a
// signal_set for SIGINT/SIGTERM/SIGHUP. Each event becomes one byte on an inproc PAIR
// socket that the loop polls next to its ROUTER, so timers and signals are handled
// on the loop's thread, where the sockets and the store live.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <zmq.hpp>

namespace fp::coord {

class LoopWaker {
 public:
  static constexpr char kTick = 'T';
  static constexpr char kStop = 'S';

  LoopWaker(zmq::context_t& context, std::chrono::milliseconds tick, bool handle_signals);
  ~LoopWaker();
  LoopWaker(const LoopWaker&) = delete;
  LoopWaker& operator=(const LoopWaker&) = delete;

  // The socket the loop polls; each message is one kTick or kStop byte.
  zmq::socket_t& socket() { return loop_end_; }
  // Thread-safe: asks the loop to stop (as SIGTERM would).
  void request_stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  zmq::socket_t loop_end_;
};

}  // namespace fp::coord
