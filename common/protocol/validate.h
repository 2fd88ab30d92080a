// Which messages each side accepts, and the field checks applied to decoded
// agent messages before the coordinator acts on them.
#pragma once

#include <vector>

#include "protocol/messages.h"
#include "util/status.h"

namespace fp::proto {

// The agent -> coordinator allowlist: Hello, Heartbeat, ChunkRequest,
// TelemetryReport, TaskStatus, TaskResult, Error, Goodbye. None of them can hold samples,
// labels, per-sample predictions or weights (see schema/fineprune.capnp).
const std::vector<MessageType>& agent_message_types();
bool allowed_from_agent(MessageType t);
// Welcome, Reject, TaskAssignment, Chunk, Ack, Heartbeat, Error, Goodbye.
bool allowed_from_coordinator(MessageType t);

// Allowlist plus field limits (lengths, list sizes, finite numbers, ranges).
// Status::protocol naming the message and the field on failure.
Status validate_agent_message(const Message& message);
Status validate_coordinator_message(const Message& message);
// The Chunk part of validate_coordinator_message, for chunks read in place.
Status validate_chunk(const ChunkView& chunk);

bool is_sha256_hex(const std::string& s);

// The idempotency key a message carries (a TelemetryReport's, a TaskStatus's, a
// TaskResult's status's); "" for the other messages and for a malformed key. An Error answering a
// refused one names it, so that its sender stops resending it.
std::string idempotency_key_of(const Message& message);

}  // namespace fp::proto
