// Frame -> Message. Anything a peer sends may be hostile: sizes are checked first,
// Cap'n Proto reads with traversal and nesting limits, and every kj::Exception a
// damaged pointer raises becomes a Status.
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>
#include <optional>
#include <type_traits>
#include <utility>

#include "fineprune.capnp.h"
#include "protocol/codec.h"
#include "protocol/limits.h"

namespace fp::proto {
namespace {

std::string str(capnp::Text::Reader t) { return std::string(t.cStr(), t.size()); }

ErrorCode from_wire(wire::ErrorCode c) {
  switch (c) {
    case wire::ErrorCode::MALFORMED:
      return ErrorCode::kMalformed;
    case wire::ErrorCode::TOO_LARGE:
      return ErrorCode::kTooLarge;
    case wire::ErrorCode::NOT_ALLOWED:
      return ErrorCode::kNotAllowed;
    case wire::ErrorCode::NOT_REGISTERED:
      return ErrorCode::kNotRegistered;
    case wire::ErrorCode::UNKNOWN_MODEL:
      return ErrorCode::kUnknownModel;
    case wire::ErrorCode::UNKNOWN_TASK:
      return ErrorCode::kUnknownTask;
    case wire::ErrorCode::BAD_REQUEST:
      return ErrorCode::kBadRequest;
    case wire::ErrorCode::INTERNAL:
      return ErrorCode::kInternal;
    case wire::ErrorCode::TASK_FAILED:
      return ErrorCode::kTaskFailed;
    case wire::ErrorCode::LIMIT_EXCEEDED:
      return ErrorCode::kLimitExceeded;
  }
  return ErrorCode::kInternal;  // an enumerant from a newer schema
}

std::vector<std::string> texts(capnp::List<capnp::Text>::Reader list) {
  std::vector<std::string> out;
  out.reserve(list.size());
  for (auto t : list) out.push_back(str(t));
  return out;
}

Hello read(wire::Hello::Reader r) {
  Hello m;
  m.agent_id = str(r.getAgentId());
  m.protocol_version = r.getProtocolVersion();
  auto caps = r.getCapabilities();
  m.capabilities.threads = caps.getThreads();
  m.capabilities.memory_mb = caps.getMemoryMb();
  m.capabilities.datasets = texts(caps.getDatasets());
  m.current_task_id = r.getCurrentTaskId();
  m.instance_id = str(r.getInstanceId());
  m.leaves_when_done = r.getLeavesWhenDone();
  return m;
}

Welcome read(wire::Welcome::Reader r) {
  return Welcome{str(r.getSessionId()), r.getHeartbeatMs(), r.getChunkSize(), r.getChunkCredit(),
                 str(r.getDatabaseId())};
}

Reject read(wire::Reject::Reader r) { return Reject{str(r.getReason()), r.getSupportedVersion()}; }

TaskAssignment read(wire::TaskAssignment::Reader r) {
  TaskAssignment m;
  m.task_id = r.getTaskId();
  m.campaign_id = r.getCampaignId();
  m.model_sha256 = str(r.getModelSha256());
  m.model_size = r.getModelSize();
  m.model_spec_json = str(r.getModelSpecJson());
  m.prune_config_json = str(r.getPruneConfigJson());
  m.dataset = str(r.getDataset());
  m.individual = str(r.getIndividual());
  m.baselines = texts(r.getBaselines());
  for (double t : r.getSweepTargets()) m.sweep_targets.push_back(t);
  return m;
}

ChunkRequest read(wire::ChunkRequest::Reader r) {
  return ChunkRequest{str(r.getSha256()), r.getOffset(), r.getLength()};
}

Chunk read(wire::Chunk::Reader r) {
  auto data = r.getData();
  return Chunk{str(r.getSha256()), r.getOffset(), r.getTotalSize(),
               std::string(reinterpret_cast<const char*>(data.begin()), data.size())};
}

// The views point into the message's segments (the received frame), not into the reader.
ChunkView view_of(wire::Chunk::Reader c) {
  auto sha = c.getSha256();
  auto bytes = c.getData();
  return ChunkView{std::string_view(sha.cStr(), sha.size()), c.getOffset(), c.getTotalSize(),
                   std::string_view(reinterpret_cast<const char*>(bytes.begin()), bytes.size())};
}

TelemetryReport read(wire::TelemetryReport::Reader r) {
  TelemetryReport m;
  m.idempotency_key = str(r.getIdempotencyKey());
  m.task_id = r.getTaskId();
  m.method = str(r.getMethod());
  m.individual = str(r.getIndividual());
  m.target_sparsity = r.getTargetSparsity();
  m.sparsity = r.getSparsity();
  m.overall_sparsity = r.getOverallSparsity();
  for (auto l : r.getLayers()) {
    m.layers.push_back(
        {str(l.getName()), l.getUnits(), l.getActiveUnits(), l.getWeights(), l.getZeroedWeights()});
  }
  m.evaluated = r.getEvaluated();
  m.accuracy_before = r.getAccuracyBefore();
  m.accuracy_after = r.getAccuracyAfter();
  for (auto p : r.getCurve()) {
    m.curve.push_back({p.getTarget(), p.getSparsity(), p.getAccuracy(), p.getMacs()});
  }
  m.adaptation_samples = r.getAdaptationSamples();
  m.eval_samples = r.getEvalSamples();
  m.wall_seconds = r.getWallSeconds();
  m.macs_dense = r.getMacsDense();
  m.macs_effective = r.getMacsEffective();
  m.peak_memory_bytes = r.getPeakMemoryBytes();
  m.privacy_mechanism = str(r.getPrivacyMechanism());
  m.privacy_epsilon = r.getPrivacyEpsilon();
  m.privacy_delta = r.getPrivacyDelta();
  m.compute_macs = r.getComputeMacs();
  m.compact_parameters = r.getCompactParameters();
  m.compact_bytes = r.getCompactBytes();
  m.mean_confidence_before = r.getMeanConfidenceBefore();
  m.mean_confidence_after = r.getMeanConfidenceAfter();
  m.agreement = r.getAgreement();
  m.model_bytes = r.getModelBytes();
  m.skipped_files = r.getSkippedFiles();
  return m;
}

Ack read(wire::Ack::Reader r) { return Ack{str(r.getIdempotencyKey()), r.getDuplicate()}; }
Heartbeat read(wire::Heartbeat::Reader r) { return Heartbeat{r.getTaskId()}; }
Error read(wire::Error::Reader r) {
  return Error{from_wire(r.getCode()), str(r.getReason()), str(r.getRef())};
}
TaskStatus read(wire::TaskStatus::Reader r) {
  return TaskStatus{str(r.getIdempotencyKey()), r.getTaskId(), r.getOk(), r.getReports(),
                    str(r.getReason())};
}
Goodbye read(wire::Goodbye::Reader r) { return Goodbye{str(r.getReason()), r.getNoTaskLeft()}; }
TaskResult read(wire::TaskResult::Reader r) {
  TaskResult m;
  m.status = read(r.getStatus());
  for (auto report : r.getReports()) m.reports.push_back(read(report));
  return m;
}

Result<Message> read_envelope(wire::Envelope::Reader env) {
  switch (env.which()) {
    case wire::Envelope::HELLO:
      return Message(read(env.getHello()));
    case wire::Envelope::WELCOME:
      return Message(read(env.getWelcome()));
    case wire::Envelope::REJECT:
      return Message(read(env.getReject()));
    case wire::Envelope::TASK_ASSIGNMENT:
      return Message(read(env.getTaskAssignment()));
    case wire::Envelope::CHUNK_REQUEST:
      return Message(read(env.getChunkRequest()));
    case wire::Envelope::CHUNK:
      return Message(read(env.getChunk()));
    case wire::Envelope::TELEMETRY_REPORT:
      return Message(read(env.getTelemetryReport()));
    case wire::Envelope::ACK:
      return Message(read(env.getAck()));
    case wire::Envelope::HEARTBEAT:
      return Message(read(env.getHeartbeat()));
    case wire::Envelope::ERROR:
      return Message(read(env.getError()));
    case wire::Envelope::TASK_STATUS:
      return Message(read(env.getTaskStatus()));
    case wire::Envelope::GOODBYE:
      return Message(read(env.getGoodbye()));
    case wire::Envelope::TASK_RESULT:
      return Message(read(env.getTaskResult()));
  }
  return Status::corruption("unknown message type " +
                            std::to_string(static_cast<unsigned>(env.which())));
}

Status fail(ErrorCode code, ErrorCode* why, std::string reason) {
  if (why) *why = code;
  return Status::corruption(std::move(reason));
}

// Checks a frame's size, reads it with traversal and nesting limits, and hands the
// Envelope to `read`. `in_place` refuses to copy an unaligned frame (nullopt).
template <typename Read, typename T = std::decay_t<
                             decltype(std::declval<Read>()(wire::Envelope::Reader()).value())>>
Result<std::optional<T>> read_frame(const void* data, size_t size, size_t max_bytes, ErrorCode* why,
                                    bool in_place, Read&& read) {
  if (size > max_bytes) {
    return fail(ErrorCode::kTooLarge, why,
                "frame of " + std::to_string(size) + " bytes exceeds the limit of " +
                    std::to_string(max_bytes) + " bytes");
  }
  if (size == 0) return fail(ErrorCode::kMalformed, why, "empty frame");
  if (size % sizeof(capnp::word) != 0) {
    return fail(ErrorCode::kMalformed, why,
                "frame of " + std::to_string(size) + " bytes is not a whole number of words");
  }
  // Cap'n Proto reads words in place; ZeroMQ gives no alignment guarantee.
  kj::Array<capnp::word> copy;
  const capnp::word* words = static_cast<const capnp::word*>(data);
  size_t count = size / sizeof(capnp::word);
  if (reinterpret_cast<uintptr_t>(data) % alignof(capnp::word) != 0) {
    if (in_place) return std::optional<T>();
    copy = kj::heapArray<capnp::word>(count);
    std::memcpy(copy.begin(), data, size);
    words = copy.begin();
  }
  capnp::ReaderOptions options;
  // A well-formed frame is read once; a little slack covers list headers.
  options.traversalLimitInWords = count * 2 + 64;
  options.nestingLimit = kNestingLimit;
  try {
    capnp::FlatArrayMessageReader reader(kj::arrayPtr(words, count), options);
    if (reader.getEnd() != words + count) {
      return fail(ErrorCode::kMalformed, why, "frame has bytes after the end of its message");
    }
    auto result = read(reader.getRoot<wire::Envelope>());
    if (!result.ok()) {
      if (why) *why = ErrorCode::kMalformed;
      return result.status();
    }
    return std::optional<T>(std::in_place, std::move(result).value());
  } catch (const kj::Exception& e) {
    return fail(ErrorCode::kMalformed, why,
                std::string("frame does not decode: ") + e.getDescription().cStr());
  } catch (const std::exception& e) {
    return fail(ErrorCode::kMalformed, why, std::string("frame does not decode: ") + e.what());
  }
}

}  // namespace

Result<Message> decode(const void* data, size_t size, size_t max_bytes, ErrorCode* why) {
  auto message = read_frame(data, size, max_bytes, why, /*in_place=*/false, read_envelope);
  if (!message.ok()) return message.status();
  return std::move(**message);  // never nullopt when copying is allowed
}

Result<std::optional<ChunkView>> decode_chunk_view(const void* data, size_t size,
                                                   size_t max_bytes) {
  // nullopt inside: not a Chunk. The views stay valid after the reader is gone: they
  // point into `data`, which the reader only looked at.
  auto view = read_frame(data, size, max_bytes, nullptr, /*in_place=*/true,
                         [](wire::Envelope::Reader env) -> Result<std::optional<ChunkView>> {
                           if (env.which() != wire::Envelope::CHUNK)
                             return std::optional<ChunkView>();
                           return std::optional(view_of(env.getChunk()));
                         });
  if (!view.ok()) return view.status();
  if (!view->has_value()) return std::optional<ChunkView>();  // unaligned: decode() copies it
  return std::move(**view);
}

Result<ChunkView> decode_chunk_parts(const void* head, size_t head_size, const void* tail,
                                     size_t tail_size, size_t max_bytes) {
  constexpr size_t kWord = sizeof(capnp::word);
  constexpr size_t kTable = 16;  // segment count - 1, two sizes, padding
  auto bad = [](std::string why) { return Status::corruption("two-part chunk: " + why); };
  if (head_size > max_bytes || tail_size > max_bytes - head_size) {
    return bad("parts of " + std::to_string(head_size) + " + " + std::to_string(tail_size) +
               " bytes exceed the limit of " + std::to_string(max_bytes) + " bytes");
  }
  if (head_size < kTable || head_size % kWord != 0 || tail_size % kWord != 0) {
    return bad("parts are not whole numbers of words");
  }
  if (reinterpret_cast<uintptr_t>(head) % alignof(capnp::word) != 0 ||
      reinterpret_cast<uintptr_t>(tail) % alignof(capnp::word) != 0) {
    return bad("parts are not word aligned in memory");
  }
  uint32_t table[4];
  std::memcpy(table, head, sizeof(table));
  if (table[0] != 1 || uint64_t{table[1]} * kWord != head_size - kTable ||
      uint64_t{table[2]} * kWord != tail_size) {
    return bad("segment table does not describe its two parts");
  }
  const auto* seg0 = reinterpret_cast<const capnp::word*>(static_cast<const char*>(head) + kTable);
  kj::ArrayPtr<const capnp::word> segments[2] = {
      kj::arrayPtr(seg0, table[1]), kj::arrayPtr(static_cast<const capnp::word*>(tail), table[2])};
  capnp::ReaderOptions options;
  options.traversalLimitInWords = (head_size + tail_size) / kWord * 2 + 64;
  options.nestingLimit = kNestingLimit;
  try {
    capnp::SegmentArrayMessageReader reader(kj::arrayPtr(segments, 2), options);
    auto env = reader.getRoot<wire::Envelope>();
    if (env.which() != wire::Envelope::CHUNK) return bad("the message is not a Chunk");
    return view_of(env.getChunk());
  } catch (const kj::Exception& e) {
    return bad(std::string("does not decode: ") + e.getDescription().cStr());
  }
}

}  // namespace fp::proto
