#include "coordinator/waker.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>

#include "coordinator/inproc_pair.h"
#include "util/stop_signals.h"
#include "util/thread_name.h"

namespace fp::coord {

struct LoopWaker::Impl {
  boost::asio::io_context io;
  boost::asio::steady_timer timer{io};
  boost::asio::signal_set signals{io};
  zmq::socket_t timer_end;
  std::chrono::milliseconds tick;
  std::thread thread;

  void send(char what) {
    try {
      timer_end.send(zmq::const_buffer(&what, 1), zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
      // The loop is gone or behind by a full queue: a lost tick is harmless.
    }
  }

  void arm() {
    timer.expires_after(tick);
    timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      send(kTick);
      arm();
    });
  }
};

LoopWaker::LoopWaker(zmq::context_t& context, std::chrono::milliseconds tick, bool handle_signals)
    : impl_(std::make_unique<Impl>()) {
  InprocPair pair = make_inproc_pair(context, "fp-loop-waker");
  loop_end_ = std::move(pair.loop_end);
  impl_->timer_end = std::move(pair.helper_end);
  impl_->tick = tick;
  if (handle_signals) {
    impl_->signals.add(SIGINT);
    impl_->signals.add(SIGTERM);
    impl_->signals.add(SIGHUP);  // a closed terminal: a clean stop, as the others
    impl_->signals.async_wait([this](const boost::system::error_code& ec, int) {
      if (!ec) impl_->send(kStop);
    });
  }
  impl_->arm();
  impl_->thread = std::thread([this, handle_signals] {
    set_thread_name("fp-waker");
    // The one thread they reach where the program blocked them (util/stop_signals.h).
    if (handle_signals) unblock_stop_signals();
    impl_->io.run();
  });
}

LoopWaker::~LoopWaker() {
  boost::asio::post(impl_->io, [this] {
    impl_->timer.cancel();
    impl_->signals.cancel();
    impl_->io.stop();
  });
  impl_->thread.join();
}

void LoopWaker::request_stop() {
  boost::asio::post(impl_->io, [this] { impl_->send(kStop); });
}

}  // namespace fp::coord
