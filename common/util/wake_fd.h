// A file descriptor another thread can make readable: a loop polls it beside its
// sockets (zmq::poll accepts plain descriptors) and so sleeps until its next deadline
// instead of waking on a short tick to look for work done elsewhere. An eventfd: one
// write to wake, one read to rearm.
#pragma once

namespace fp {

class WakeFd {
 public:
  WakeFd();  // throws std::system_error if the kernel has no descriptor to give
  ~WakeFd();
  WakeFd(const WakeFd&) = delete;
  WakeFd& operator=(const WakeFd&) = delete;

  int fd() const { return fd_; }
  void notify();  // thread-safe; wakes the poller until drain()
  void drain();   // the poller's side: consumes every notify() so far

 private:
  int fd_ = -1;
};

}  // namespace fp
