// Protocol version and the size limits every receiver enforces.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fp::proto {

// Must equal the schema's protocolVersion constant (checked in encode.cpp).
constexpr uint32_t kProtocolVersion = 3;
// The oldest agents a coordinator still serves: version 2 agents never send a
// TaskResult, and everything else they send is unchanged.
constexpr uint32_t kMinProtocolVersion = 2;

// Largest model chunk the coordinator serves, and the default it offers.
constexpr uint32_t kMaxChunkBytes = 1u << 20;
constexpr uint32_t kDefaultChunkBytes = 256u << 10;
constexpr uint32_t kDefaultChunkCredit = 8;

// Frame limits. Agents send only telemetry, so their frames are small; coordinator
// frames must fit one chunk plus its envelope.
constexpr size_t kMaxAgentFrameBytes = 64u << 10;
constexpr size_t kMaxCoordinatorFrameBytes = kMaxChunkBytes + (64u << 10);
// ZeroMQ drops a connection that sends more than this (ZMQ_MAXMSGSIZE); frames between
// the soft limit above and this hard limit are answered with an Error instead.
constexpr int64_t kHardFrameBytes = 4 * static_cast<int64_t>(kMaxCoordinatorFrameBytes);

// Cap'n Proto decoding limits: the schema nests at most four levels deep.
constexpr unsigned kNestingLimit = 8;

// Error.ref of the answer to a Hello whose agent id another live agent is using.
constexpr const char* kAgentIdInUse = "agent-id-in-use";
// Error.ref of a limitExceeded answer: the coordinator holds server.max_agents agents
// (the agent retries after backoff), or this peer sends faster than its rate limit
// (the excess is dropped; said once per burst).
constexpr const char* kCoordinatorFull = "coordinator-full";
constexpr const char* kRateLimited = "rate-limited";
// Error.ref of a limitExceeded answer to a Hello: the enrolled key already holds
// server.max_sessions_per_key sessions (the agent retries after backoff).
constexpr const char* kKeySessions = "key-sessions";

// Error.ref of a taskFailed notice: "task-<id>", a task of the agent's individual that the
// coordinator failed for good instead of assigning it to the agent (its attempts used up,
// its model unavailable); the agent counts it as ended (AgentConfig::max_tasks).
constexpr const char* kFailedTaskRefPrefix = "task-";

// Field limits for agent messages (validate.h).
constexpr size_t kMaxIdBytes = 128;       // agent ids, idempotency keys, session ids
constexpr size_t kMaxNameBytes = 256;     // methods, individuals, dataset names, layer names
constexpr size_t kMaxReasonBytes = 1024;  // error and status text
constexpr size_t kMaxDatasets = 64;
constexpr size_t kMaxLayers = 1024;
constexpr size_t kMaxCurvePoints = 256;
constexpr size_t kMaxTaskReports = 64;  // reports in one TaskResult (one per method)

}  // namespace fp::proto
