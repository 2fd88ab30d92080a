// The settings a scenario's own coordinator serves with: its [hosting] keys, and limits
// sized for the simulation's hosts (enrolled machines of the run, not single devices).
#pragma once

#include "coordinator/server_config.h"
#include "simulation/scenario.h"

namespace fp::sim {

// The ServerConfig `fp-sim run` starts its coordinator with, but for the endpoint's
// resolution and the CURVE keys, which the run makes.
//  - A host's agents share its key: room for all of them, and for silent ones not yet
//    dropped (max_sessions_per_key).
//  - With shared connections (hosting.connections) one connection carries a slot's agents
//    back to back, ~7 messages each: a slot of agents that compute nothing ran 271 agents a
//    second on a 2-core machine, ~1,900 messages a second on average and past the 2,000/s
//    a device's connection is allowed in its bursts. The run's hosts get ten times the
//    device limit; the limit still stops a runaway peer.
coord::ServerConfig server_config_for(const Scenario& scenario);

}  // namespace fp::sim
