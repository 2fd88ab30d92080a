// The ZeroMQ endpoints fineprune's programs bind and connect to, checked before libzmq sees
// them: libzmq takes a TCP port above 65535 modulo 65536 (tcp://127.0.0.1:99999 binds
// 34463), so a typo'd port would serve, or be dialled, somewhere nobody asked for.
#pragma once

#include <string>

#include "util/status.h"

namespace fp::proto {

enum class EndpointUse { kBind, kConnect };

// tcp://HOST:PORT with PORT 1-65535 (binding also takes * or 0: a free port), ipc://PATH
// or inproc://NAME, neither part empty. Other transports are left to libzmq.
Status check_endpoint(const std::string& endpoint, EndpointUse use);

// A program's endpoint (fp-coordinator serve binds it, fp-agent connects to it): as
// check_endpoint, and not inproc://, which reaches only threads of one process: the program
// would wait for ever for a peer that cannot come.
Status check_program_endpoint(const std::string& endpoint, EndpointUse use);

// The socket file an ipc://PATH endpoint names; "" for another transport or ipc://* (a
// name libzmq picks).
std::string ipc_path(const std::string& endpoint);

// For ipc://PATH, before binding it: libzmq's bind deletes whatever file is at PATH first
// (meant for a socket a stopped program left), so it would take the path from a program
// serving there now, or delete a file that is no socket. Either is an error naming PATH;
// no file, a stale socket, or another transport is OK.
Status check_ipc_path_free(const std::string& endpoint);

// What to hand libzmq's bind for `endpoint`: libzmq binds addresses and interface names,
// not host names, so tcp://localhost:PORT (this machine only, as its user means it) becomes
// tcp://127.0.0.1:PORT; anything else is returned as it is.
std::string bindable_endpoint(const std::string& endpoint);

}  // namespace fp::proto
