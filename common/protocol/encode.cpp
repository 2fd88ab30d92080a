// Message -> frame. Builders only; no validation here (senders build valid data).
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/io.h>

#include <cstring>

#include "fineprune.capnp.h"
#include "protocol/codec.h"
#include "protocol/limits.h"

namespace fp::proto {

static_assert(kProtocolVersion == wire::PROTOCOL_VERSION,
              "limits.h and schema/fineprune.capnp disagree on the protocol version");

namespace {

kj::StringPtr text(const std::string& s) { return kj::StringPtr(s.c_str(), s.size()); }

wire::ErrorCode to_wire(ErrorCode c) {
  switch (c) {
    case ErrorCode::kMalformed:
      return wire::ErrorCode::MALFORMED;
    case ErrorCode::kTooLarge:
      return wire::ErrorCode::TOO_LARGE;
    case ErrorCode::kNotAllowed:
      return wire::ErrorCode::NOT_ALLOWED;
    case ErrorCode::kNotRegistered:
      return wire::ErrorCode::NOT_REGISTERED;
    case ErrorCode::kUnknownModel:
      return wire::ErrorCode::UNKNOWN_MODEL;
    case ErrorCode::kUnknownTask:
      return wire::ErrorCode::UNKNOWN_TASK;
    case ErrorCode::kBadRequest:
      return wire::ErrorCode::BAD_REQUEST;
    case ErrorCode::kInternal:
      return wire::ErrorCode::INTERNAL;
    case ErrorCode::kTaskFailed:
      return wire::ErrorCode::TASK_FAILED;
    case ErrorCode::kLimitExceeded:
      return wire::ErrorCode::LIMIT_EXCEEDED;
  }
  return wire::ErrorCode::INTERNAL;
}

template <typename ListBuilder>
void fill_texts(ListBuilder list, const std::vector<std::string>& items) {
  for (size_t i = 0; i < items.size(); ++i) list.set(i, text(items[i]));
}

struct Filler {
  wire::Envelope::Builder env;

  void operator()(const Hello& m) {
    auto b = env.initHello();
    b.setAgentId(text(m.agent_id));
    b.setProtocolVersion(m.protocol_version);
    auto caps = b.initCapabilities();
    caps.setThreads(m.capabilities.threads);
    caps.setMemoryMb(m.capabilities.memory_mb);
    fill_texts(caps.initDatasets(m.capabilities.datasets.size()), m.capabilities.datasets);
    b.setCurrentTaskId(m.current_task_id);
    b.setInstanceId(text(m.instance_id));
    b.setLeavesWhenDone(m.leaves_when_done);
  }
  void operator()(const Welcome& m) {
    auto b = env.initWelcome();
    b.setSessionId(text(m.session_id));
    b.setHeartbeatMs(m.heartbeat_ms);
    b.setChunkSize(m.chunk_size);
    b.setChunkCredit(m.chunk_credit);
    b.setDatabaseId(text(m.database_id));
  }
  void operator()(const Reject& m) {
    auto b = env.initReject();
    b.setReason(text(m.reason));
    b.setSupportedVersion(m.supported_version);
  }
  void operator()(const TaskAssignment& m) {
    auto b = env.initTaskAssignment();
    b.setTaskId(m.task_id);
    b.setCampaignId(m.campaign_id);
    b.setModelSha256(text(m.model_sha256));
    b.setModelSize(m.model_size);
    b.setModelSpecJson(text(m.model_spec_json));
    b.setPruneConfigJson(text(m.prune_config_json));
    b.setDataset(text(m.dataset));
    b.setIndividual(text(m.individual));
    fill_texts(b.initBaselines(m.baselines.size()), m.baselines);
    auto targets = b.initSweepTargets(m.sweep_targets.size());
    for (size_t i = 0; i < m.sweep_targets.size(); ++i) targets.set(i, m.sweep_targets[i]);
  }
  void operator()(const ChunkRequest& m) {
    auto b = env.initChunkRequest();
    b.setSha256(text(m.sha256));
    b.setOffset(m.offset);
    b.setLength(m.length);
  }
  void operator()(const Chunk& m) {
    auto b = env.initChunk();
    b.setSha256(text(m.sha256));
    b.setOffset(m.offset);
    b.setTotalSize(m.total_size);
    b.setData(kj::arrayPtr(reinterpret_cast<const kj::byte*>(m.data.data()), m.data.size()));
  }
  void operator()(const TelemetryReport& m) { fill(env.initTelemetryReport(), m); }
  static void fill(wire::TelemetryReport::Builder b, const TelemetryReport& m) {
    b.setIdempotencyKey(text(m.idempotency_key));
    b.setTaskId(m.task_id);
    b.setMethod(text(m.method));
    b.setIndividual(text(m.individual));
    b.setTargetSparsity(m.target_sparsity);
    b.setSparsity(m.sparsity);
    b.setOverallSparsity(m.overall_sparsity);
    auto layers = b.initLayers(m.layers.size());
    for (size_t i = 0; i < m.layers.size(); ++i) {
      const auto& l = m.layers[i];
      auto lb = layers[i];
      lb.setName(text(l.name));
      lb.setUnits(l.units);
      lb.setActiveUnits(l.active_units);
      lb.setWeights(l.weights);
      lb.setZeroedWeights(l.zeroed_weights);
    }
    b.setEvaluated(m.evaluated);
    b.setAccuracyBefore(m.accuracy_before);
    b.setAccuracyAfter(m.accuracy_after);
    auto curve = b.initCurve(m.curve.size());
    for (size_t i = 0; i < m.curve.size(); ++i) {
      const auto& p = m.curve[i];
      auto pb = curve[i];
      pb.setTarget(p.target);
      pb.setSparsity(p.sparsity);
      pb.setAccuracy(p.accuracy);
      pb.setMacs(p.macs);
    }
    b.setAdaptationSamples(m.adaptation_samples);
    b.setEvalSamples(m.eval_samples);
    b.setWallSeconds(m.wall_seconds);
    b.setMacsDense(m.macs_dense);
    b.setMacsEffective(m.macs_effective);
    b.setPeakMemoryBytes(m.peak_memory_bytes);
    b.setPrivacyMechanism(m.privacy_mechanism);
    b.setPrivacyEpsilon(m.privacy_epsilon);
    b.setPrivacyDelta(m.privacy_delta);
    b.setComputeMacs(m.compute_macs);
    b.setCompactParameters(m.compact_parameters);
    b.setCompactBytes(m.compact_bytes);
    b.setMeanConfidenceBefore(m.mean_confidence_before);
    b.setMeanConfidenceAfter(m.mean_confidence_after);
    b.setAgreement(m.agreement);
    b.setModelBytes(m.model_bytes);
    b.setSkippedFiles(m.skipped_files);
  }
  void operator()(const Ack& m) {
    auto b = env.initAck();
    b.setIdempotencyKey(text(m.idempotency_key));
    b.setDuplicate(m.duplicate);
  }
  void operator()(const Heartbeat& m) { env.initHeartbeat().setTaskId(m.task_id); }
  void operator()(const Error& m) {
    auto b = env.initError();
    b.setCode(to_wire(m.code));
    b.setReason(text(m.reason));
    b.setRef(text(m.ref));
  }
  void operator()(const TaskStatus& m) { fill(env.initTaskStatus(), m); }
  static void fill(wire::TaskStatus::Builder b, const TaskStatus& m) {
    b.setIdempotencyKey(text(m.idempotency_key));
    b.setTaskId(m.task_id);
    b.setOk(m.ok);
    b.setReports(m.reports);
    b.setReason(text(m.reason));
  }
  void operator()(const Goodbye& m) {
    auto b = env.initGoodbye();
    b.setReason(text(m.reason));
    b.setNoTaskLeft(m.no_task_left);
  }
  void operator()(const TaskResult& m) {
    auto b = env.initTaskResult();
    fill(b.initStatus(), m.status);
    auto reports = b.initReports(static_cast<unsigned>(m.reports.size()));
    for (size_t i = 0; i < m.reports.size(); ++i) fill(reports[i], m.reports[i]);
  }
};

std::string flatten(capnp::MessageBuilder& builder) {
  size_t words = capnp::computeSerializedSizeInWords(builder);
  std::string out(words * sizeof(capnp::word), '\0');
  kj::ArrayOutputStream stream(kj::arrayPtr(reinterpret_cast<kj::byte*>(&out[0]), out.size()));
  capnp::writeMessage(stream, builder);
  return out;
}

}  // namespace

std::string encode(const Message& message) {
  // Most messages (acknowledgements, task status, a report) take well under 1 KiB; the
  // builder's default 8 KiB first segment, zeroed for each, cost more than filling it.
  // A larger message grows into further segments, which every reader accepts.
  capnp::MallocMessageBuilder builder(128);
  std::visit(Filler{builder.initRoot<wire::Envelope>()}, message);
  return flatten(builder);
}

std::string encode_chunk(std::string_view sha256, uint64_t offset, uint64_t total_size,
                         std::string_view data) {
  auto frame =
      encode_chunk_filled(sha256, offset, total_size, data.size(), [&](char* dst, size_t n) {
        if (n) std::memcpy(dst, data.data(), n);
        return Status::ok_status();
      });
  return frame.ok() ? std::move(frame).value() : std::string();  // fill cannot fail here
}

Result<std::string> encode_chunk_filled(std::string_view sha256, uint64_t offset,
                                        uint64_t total_size, size_t length, const ChunkFill& fill) {
  constexpr size_t kWord = sizeof(capnp::word);
  // Root pointer, Envelope (2 words), Chunk (4 words), the hash text and the data:
  // one segment, built in place after the 8-byte segment table. Generous slack.
  size_t words = 16 + (sha256.size() + 1 + kWord - 1) / kWord + (length + kWord - 1) / kWord;
  std::string frame((1 + words) * kWord, '\0');
  if (reinterpret_cast<uintptr_t>(&frame[kWord]) % alignof(capnp::word) != 0) {
    return Status::internal("chunk frame buffer is not word aligned");
  }
  try {
    capnp::FlatMessageBuilder builder(
        kj::arrayPtr(reinterpret_cast<capnp::word*>(&frame[kWord]), words));
    auto chunk = builder.initRoot<wire::Envelope>().initChunk();
    std::string sha(sha256);
    chunk.setSha256(text(sha));
    chunk.setOffset(offset);
    chunk.setTotalSize(total_size);
    auto data = chunk.initData(length);
    FP_RETURN_IF_ERROR(fill(reinterpret_cast<char*>(data.begin()), length));
    auto segments = builder.getSegmentsForOutput();
    if (segments.size() != 1) return Status::internal("chunk frame spilled into a second segment");
    uint32_t table[2] = {0, static_cast<uint32_t>(segments[0].size())};
    std::memcpy(&frame[0], table, sizeof(table));
    frame.resize((1 + segments[0].size()) * kWord);
  } catch (const kj::Exception& e) {
    return Status::internal(std::string("building a chunk frame: ") + e.getDescription().cStr());
  }
  return frame;
}

Result<std::string> encode_chunk_head(std::string_view sha256, uint64_t offset, uint64_t total_size,
                                      std::string_view data) {
  constexpr size_t kWord = sizeof(capnp::word);
  if (reinterpret_cast<uintptr_t>(data.data()) % alignof(capnp::word) != 0) {
    return Status::internal("chunk data is not word aligned");
  }
  try {
    // Segment 0: Envelope, Chunk, the hash text and the far-pointer landing pad.
    capnp::MallocMessageBuilder builder(32, capnp::AllocationStrategy::FIXED_SIZE);
    auto chunk = builder.initRoot<wire::Envelope>().initChunk();
    std::string sha(sha256);
    chunk.setSha256(text(sha));
    chunk.setOffset(offset);
    chunk.setTotalSize(total_size);
    chunk.adoptData(builder.getOrphanage().referenceExternalData(
        capnp::Data::Reader(reinterpret_cast<const kj::byte*>(data.data()), data.size())));
    auto segments = builder.getSegmentsForOutput();
    if (segments.size() != 2 || reinterpret_cast<const char*>(segments[1].begin()) != data.data()) {
      return Status::internal("chunk head did not come out as two segments around the data");
    }
    uint32_t table[4] = {1, static_cast<uint32_t>(segments[0].size()),
                         static_cast<uint32_t>(segments[1].size()), 0};
    std::string head(sizeof(table) + segments[0].size() * kWord, '\0');
    std::memcpy(&head[0], table, sizeof(table));
    std::memcpy(&head[sizeof(table)], segments[0].begin(), segments[0].size() * kWord);
    return head;
  } catch (const kj::Exception& e) {
    return Status::internal(std::string("building a chunk head: ") + e.getDescription().cStr());
  }
}

}  // namespace fp::proto
