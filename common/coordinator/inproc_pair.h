// Two connected inproc PAIR sockets: a helper thread (the commit worker, the loop waker)
// writes a byte on one end to wake the serving loop, which polls the other beside its ROUTER.
#pragma once

#include <string>
#include <zmq.hpp>

namespace fp::coord {

struct InprocPair {
  zmq::socket_t loop_end;    // bound; the loop polls it
  zmq::socket_t helper_end;  // connected; the helper thread writes to it
};

// A pair on a fresh address "inproc://<name>-<n>" (n counts pairs in this process).
// Linger 0: a byte nobody read does not hold up closing the context.
InprocPair make_inproc_pair(zmq::context_t& context, const std::string& name);

}  // namespace fp::coord
