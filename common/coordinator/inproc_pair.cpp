#include "coordinator/inproc_pair.h"

#include <atomic>

namespace fp::coord {

InprocPair make_inproc_pair(zmq::context_t& context, const std::string& name) {
  static std::atomic<int> next_id{0};
  const std::string address = "inproc://" + name + "-" + std::to_string(next_id++);
  InprocPair pair{zmq::socket_t(context, zmq::socket_type::pair),
                  zmq::socket_t(context, zmq::socket_type::pair)};
  pair.loop_end.set(zmq::sockopt::linger, 0);
  pair.loop_end.bind(address);
  pair.helper_end.set(zmq::sockopt::linger, 0);
  pair.helper_end.connect(address);
  return pair;
}

}  // namespace fp::coord
