// What a coordinator's start binds, tried and released before it starts: one check for
// `fp-coordinator serve --check` and `fp-sim run --check` (each had its own probe).
#pragma once

#include <functional>

#include "coordinator/model_registry.h"
#include "coordinator/server.h"
#include "store/store.h"
#include "util/status.h"

namespace fp::coord {

// Binds `config`'s endpoint with the start's own code (Server::bind: the config's checks,
// the CURVE set-up, the bind), then runs `while_bound` (the dashboard's port: one port for
// both passed a check and failed the start) and releases both. An ipc:// socket file the
// check made is removed. The bind's start-up lines (the endpoint, a throwaway key) are not
// said; its warnings are.
Status check_server_bind(const ServerConfig& config, store::Store& store, ModelRegistry& registry,
                         const std::function<Status()>& while_bound = {});

}  // namespace fp::coord
