// Wire protocol: codec round trips, hostile frames, the agent allowlist and the
// schema-level privacy property (agents cannot send samples, labels, predictions
// or weights).
#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/schema.h>
#include <capnp/serialize.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <random>
#include <set>

#include "fineprune.capnp.h"
#include "protocol/codec.h"
#include "protocol/endpoint.h"
#include "protocol/limits.h"
#include "protocol/sample_messages.h"
#include "protocol/validate.h"

using namespace fp::proto;

namespace {

const std::string kSha(64, 'a');

std::string fp_test_bytes(size_t n) {
  std::string s(n, '\0');
  std::mt19937 rng(5);
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

Message round_trip(const Message& m, size_t limit = kMaxCoordinatorFrameBytes) {
  std::string frame = encode(m);
  auto decoded = decode(frame, limit);
  REQUIRE(decoded.ok());
  REQUIRE(decoded->index() == m.index());
  return std::move(decoded).value();
}

}  // namespace

TEST_CASE("every message type survives a round trip", "[protocol]") {
  Hello h{"agent-1", kProtocolVersion, {4, 2048, {"fsdd/speaker=jackson", "fmnist/classes=3+7"}},
          17,        "inst-1",         true};
  auto h2 = std::get<Hello>(round_trip(h));
  CHECK(h2.agent_id == "agent-1");
  CHECK(h2.protocol_version == kProtocolVersion);
  CHECK(h2.capabilities.threads == 4);
  CHECK(h2.capabilities.memory_mb == 2048);
  CHECK(h2.capabilities.datasets == h.capabilities.datasets);
  CHECK(h2.current_task_id == 17);
  CHECK(h2.instance_id == "inst-1");
  CHECK(h2.leaves_when_done);
  CHECK_FALSE(
      std::get<Hello>(round_trip(Hello{"agent-2", kProtocolVersion, {}, 0, "i"})).leaves_when_done);

  auto w = std::get<Welcome>(round_trip(Welcome{"s-1", 500, 65536, 4, "0123abcd"}));
  CHECK(w.session_id == "s-1");
  CHECK(w.heartbeat_ms == 500);
  CHECK(w.chunk_size == 65536);
  CHECK(w.chunk_credit == 4);
  CHECK(w.database_id == "0123abcd");
  // An outbox file keeps the id on its header line: no space, no line break.
  CHECK(validate_coordinator_message(Welcome{"s-1", 500, 65536, 4, ""}).ok());
  CHECK_FALSE(validate_coordinator_message(Welcome{"s-1", 500, 65536, 4, "a b"}).ok());
  CHECK_FALSE(validate_coordinator_message(Welcome{"s-1", 500, 65536, 4, "a\nb"}).ok());

  auto rj = std::get<Reject>(round_trip(Reject{"protocol version 9 unsupported", 1}));
  CHECK(rj.reason == "protocol version 9 unsupported");
  CHECK(rj.supported_version == 1);

  TaskAssignment a{11,
                   3,
                   kSha,
                   4096,
                   "{\"arch\":\"cnn\"}",
                   "{\"target_sparsity\":0.5}",
                   "fsdd",
                   "speaker=jackson",
                   {"finetune", "svd"},
                   {0.1, 0.5, 0.9}};
  auto a2 = std::get<TaskAssignment>(round_trip(a));
  CHECK(a2.task_id == 11);
  CHECK(a2.campaign_id == 3);
  CHECK(a2.model_sha256 == kSha);
  CHECK(a2.model_size == 4096);
  CHECK(a2.model_spec_json == a.model_spec_json);
  CHECK(a2.prune_config_json == a.prune_config_json);
  CHECK(a2.dataset == "fsdd");
  CHECK(a2.individual == "speaker=jackson");
  CHECK(a2.baselines == a.baselines);
  CHECK(a2.sweep_targets == a.sweep_targets);

  auto cr = std::get<ChunkRequest>(round_trip(ChunkRequest{kSha, 1 << 20, 65536}));
  CHECK(cr.sha256 == kSha);
  CHECK(cr.offset == (1u << 20));
  CHECK(cr.length == 65536);

  std::string bytes(1000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
  auto c = std::get<Chunk>(round_trip(Chunk{kSha, 24, 5000, bytes}));
  CHECK(c.offset == 24);
  CHECK(c.total_size == 5000);
  CHECK(c.data == bytes);
  auto c2 = std::get<Chunk>(round_trip(Message(Chunk{})));
  CHECK(c2.data.empty());
  auto direct = decode(encode_chunk(kSha, 24, 5000, bytes), kMaxCoordinatorFrameBytes);
  REQUIRE(direct.ok());
  CHECK(std::get<Chunk>(*direct).data == bytes);
  CHECK(std::get<Chunk>(*direct).sha256 == kSha);

  // Every field survives the wire (the sample sets each one to a distinct value).
  auto r = sample_report();
  auto r2 = std::get<TelemetryReport>(round_trip(r, kMaxAgentFrameBytes));
  CHECK(r2.idempotency_key == r.idempotency_key);
  CHECK(r2.task_id == r.task_id);
  CHECK(r2.method == r.method);
  CHECK(r2.individual == r.individual);
  CHECK(r2.target_sparsity == r.target_sparsity);
  CHECK(r2.sparsity == r.sparsity);
  CHECK(r2.overall_sparsity == r.overall_sparsity);
  REQUIRE(r2.layers.size() == r.layers.size());
  for (size_t i = 0; i < r.layers.size(); ++i) {
    CHECK(r2.layers[i].name == r.layers[i].name);
    CHECK(r2.layers[i].units == r.layers[i].units);
    CHECK(r2.layers[i].active_units == r.layers[i].active_units);
    CHECK(r2.layers[i].weights == r.layers[i].weights);
    CHECK(r2.layers[i].zeroed_weights == r.layers[i].zeroed_weights);
  }
  CHECK(r2.evaluated == r.evaluated);
  CHECK(r2.accuracy_before == r.accuracy_before);
  CHECK(r2.accuracy_after == r.accuracy_after);
  REQUIRE(r2.curve.size() == r.curve.size());
  CHECK(r2.curve[1].macs == r.curve[1].macs);
  CHECK(r2.curve[1].accuracy == r.curve[1].accuracy);
  CHECK(r2.adaptation_samples == r.adaptation_samples);
  CHECK(r2.eval_samples == r.eval_samples);
  CHECK(r2.wall_seconds == r.wall_seconds);
  CHECK(r2.macs_dense == r.macs_dense);
  CHECK(r2.macs_effective == r.macs_effective);
  CHECK(r2.peak_memory_bytes == r.peak_memory_bytes);
  CHECK(r2.compute_macs == r.compute_macs);
  CHECK(r2.compact_parameters == r.compact_parameters);
  CHECK(r2.compact_bytes == r.compact_bytes);
  CHECK(r2.mean_confidence_before == r.mean_confidence_before);
  CHECK(r2.mean_confidence_after == r.mean_confidence_after);
  CHECK(r2.agreement == r.agreement);
  CHECK(r2.model_bytes == r.model_bytes);
  CHECK(r2.skipped_files == r.skipped_files);

  auto ack = std::get<Ack>(round_trip(Ack{"k-1", true}));
  CHECK(ack.idempotency_key == "k-1");
  CHECK(ack.duplicate);
  CHECK(std::get<Heartbeat>(round_trip(Heartbeat{42})).task_id == 42);
  auto e = std::get<Error>(round_trip(Error{ErrorCode::kUnknownTask, "no task 9", "key-9"}));
  CHECK(e.code == ErrorCode::kUnknownTask);
  CHECK(e.reason == "no task 9");
  CHECK(e.ref == "key-9");
  auto ts = std::get<TaskStatus>(round_trip(TaskStatus{"t-1", 9, false, 2, "data missing"}));
  CHECK(ts.task_id == 9);
  CHECK_FALSE(ts.ok);
  CHECK(ts.reports == 2);
  CHECK(ts.reason == "data missing");
  auto bye = std::get<Goodbye>(round_trip(Goodbye{"shutdown"}));
  CHECK(bye.reason == "shutdown");
  CHECK_FALSE(bye.no_task_left);
  CHECK(std::get<Goodbye>(round_trip(Goodbye{"no task left", true})).no_task_left);

  auto tr = sample_result();
  tr.reports[2].accuracy_after = 0.5;
  auto tr2 = std::get<TaskResult>(round_trip(tr, kMaxAgentFrameBytes));
  CHECK(tr2.status.idempotency_key == "agent-1:7:status");
  CHECK(tr2.status.ok);
  CHECK(tr2.status.reports == 3);
  REQUIRE(tr2.reports.size() == 3);
  CHECK(tr2.reports[1].method == "finetune");
  CHECK(tr2.reports[1].idempotency_key == "agent-1:7:finetune");
  CHECK(tr2.reports[2].accuracy_after == 0.5);
  CHECK(tr2.reports[0].layers.size() == tr.reports[0].layers.size());
  CHECK(tr2.reports[0].skipped_files == tr.reports[0].skipped_files);
  CHECK(std::get<TaskResult>(round_trip(TaskResult{})).reports.empty());
}

TEST_CASE("chunk frames are built in place around their data", "[protocol]") {
  std::string data = fp_test_bytes(kMaxChunkBytes);
  auto frame = encode_chunk_filled(kSha, 1 << 20, 5 << 20, data.size(), [&](char* dst, size_t n) {
    std::memcpy(dst, data.data(), n);
    return fp::Status::ok_status();
  });
  REQUIRE(frame.ok());
  CHECK(frame->size() <= kMaxCoordinatorFrameBytes);
  CHECK(frame->size() < data.size() + 256);  // one segment: the data plus a small envelope
  auto decoded = decode(*frame, kMaxCoordinatorFrameBytes);
  REQUIRE(decoded.ok());
  const auto& c = std::get<Chunk>(*decoded);
  CHECK(c.sha256 == kSha);
  CHECK(c.offset == (1u << 20));
  CHECK(c.total_size == (5u << 20));
  CHECK(c.data == data);
  CHECK(validate_coordinator_message(*decoded).ok());

  auto failed = encode_chunk_filled(
      kSha, 0, 10, 10, [](char*, size_t) { return fp::Status::io_error("disk on fire"); });
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.status().message() == "disk on fire");
}

TEST_CASE("a chunk frame is read in place: its data points into the frame", "[protocol]") {
  std::string data = fp_test_bytes(100000);
  std::string frame = encode_chunk(kSha, 4096, 200000, data);
  REQUIRE(reinterpret_cast<uintptr_t>(frame.data()) % 8 == 0);  // std::string's heap block
  auto view = decode_chunk_view(frame.data(), frame.size(), kMaxCoordinatorFrameBytes);
  REQUIRE(view.ok());
  REQUIRE(view->has_value());
  const ChunkView& c = **view;
  CHECK(c.sha256 == kSha);
  CHECK(c.offset == 4096);
  CHECK(c.total_size == 200000);
  CHECK(c.data == data);
  // Not a copy: the bytes are the frame's own.
  CHECK(c.data.data() >= frame.data());
  CHECK(c.data.data() + c.data.size() <= frame.data() + frame.size());
  CHECK(validate_chunk(c).ok());

  // Anything else is left to decode(): another message, or a frame not word aligned
  // in memory (read in place it would be misread; decode() copies it).
  std::string beat = encode(Message(Heartbeat{7}));
  auto other = decode_chunk_view(beat.data(), beat.size(), kMaxCoordinatorFrameBytes);
  REQUIRE(other.ok());
  CHECK_FALSE(other->has_value());
  std::string shifted = " " + frame;
  auto unaligned = decode_chunk_view(shifted.data() + 1, frame.size(), kMaxCoordinatorFrameBytes);
  REQUIRE(unaligned.ok());
  CHECK_FALSE(unaligned->has_value());

  // The limits are decode()'s: too large, damaged, or a chunk outside its model.
  CHECK_FALSE(decode_chunk_view(frame.data(), frame.size(), frame.size() - 8).ok());
  std::string damaged = frame;
  std::memset(&damaged[8], 0xff, 16);
  CHECK_FALSE(decode_chunk_view(damaged.data(), damaged.size(), kMaxCoordinatorFrameBytes).ok());
  std::string outside = encode_chunk(kSha, 150000, 200000, data);
  auto o = decode_chunk_view(outside.data(), outside.size(), kMaxCoordinatorFrameBytes);
  REQUIRE(o.ok());
  REQUIRE(o->has_value());
  CHECK(validate_chunk(**o).code() == fp::Status::Code::kProtocol);
}

TEST_CASE("a two-part chunk carries its data as a segment of its own", "[protocol]") {
  // The data as the coordinator sends it: from word-aligned memory, 13 bytes past a
  // word boundary at the end (the padding up to the word is read, like a mapping's).
  std::vector<uint64_t> words(1000);
  char* bytes = reinterpret_cast<char*>(words.data());
  for (size_t i = 0; i < words.size() * 8; ++i) bytes[i] = static_cast<char>(i * 7);
  std::string_view data(bytes, 7 * 8 + 5);
  auto head = encode_chunk_head(kSha, 8192, 9000, data);
  REQUIRE(head.ok());
  CHECK(head->size() < 200);  // the envelope only: the data is not in it
  std::vector<uint64_t> aligned_head((head->size() + 7) / 8);
  std::memcpy(aligned_head.data(), head->data(), head->size());
  size_t tail = chunk_tail_bytes(data.size());
  CHECK(tail == 64);

  auto c =
      decode_chunk_parts(aligned_head.data(), head->size(), bytes, tail, kMaxCoordinatorFrameBytes);
  REQUIRE(c.ok());
  CHECK(c->sha256 == kSha);
  CHECK(c->offset == 8192);
  CHECK(c->total_size == 9000);
  CHECK(c->data == data);
  CHECK(c->data.data() == bytes);  // read in place

  // Whatever does not fit the form is a clear error, never a misread.
  auto fails = [&](size_t head_size, const void* tail_data, size_t tail_size, size_t max,
                   const std::string& why) {
    auto r = decode_chunk_parts(aligned_head.data(), head_size, tail_data, tail_size, max);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.status().message(), Catch::Contains(why));
  };
  fails(head->size(), bytes, tail - 8, kMaxCoordinatorFrameBytes, "segment table");
  fails(head->size() - 8, bytes, tail, kMaxCoordinatorFrameBytes, "segment table");
  fails(head->size(), bytes, tail - 3, kMaxCoordinatorFrameBytes, "whole numbers of words");
  fails(head->size(), bytes + 1, tail, kMaxCoordinatorFrameBytes, "word aligned");
  fails(head->size(), bytes, tail, head->size() + tail - 8, "exceed the limit");
  CHECK_FALSE(encode_chunk_head(kSha, 0, 9000, std::string_view(bytes + 4, 8)).ok());
  // A single-frame message with a table claiming two segments is not a two-part chunk.
  std::string beat = encode(Message(Heartbeat{1}));
  std::vector<uint64_t> beat_words((beat.size() + 7) / 8);
  std::memcpy(beat_words.data(), beat.data(), beat.size());
  CHECK_FALSE(
      decode_chunk_parts(beat_words.data(), beat.size(), bytes, tail, kMaxCoordinatorFrameBytes)
          .ok());
}

TEST_CASE("frames over the limit, empty or misaligned in length are rejected", "[protocol]") {
  ErrorCode why = ErrorCode::kInternal;
  std::string frame = encode(sample_report());
  auto too_big = decode(frame, frame.size() - 8, &why);
  REQUIRE_FALSE(too_big.ok());
  CHECK(why == ErrorCode::kTooLarge);
  CHECK(too_big.status().message().find("exceeds the limit") != std::string::npos);

  auto empty = decode(std::string(), kMaxAgentFrameBytes, &why);
  REQUIRE_FALSE(empty.ok());
  CHECK(why == ErrorCode::kMalformed);

  auto ragged = decode(frame.substr(0, frame.size() - 3), kMaxAgentFrameBytes, &why);
  REQUIRE_FALSE(ragged.ok());
  CHECK(why == ErrorCode::kMalformed);
  CHECK(ragged.status().message().find("whole number of words") != std::string::npos);

  auto truncated = decode(frame.substr(0, frame.size() - 8), kMaxAgentFrameBytes, &why);
  CHECK_FALSE(truncated.ok());

  auto trailing = decode(frame + std::string(8, '\0'), kMaxAgentFrameBytes, &why);
  REQUIRE_FALSE(trailing.ok());
  CHECK(trailing.status().message().find("after the end") != std::string::npos);
}

TEST_CASE("a frame at an unaligned address decodes", "[protocol]") {
  std::string frame = encode(sample_report());
  std::string buffer(frame.size() + 1, '\0');
  std::memcpy(&buffer[1], frame.data(), frame.size());
  auto decoded = decode(buffer.data() + 1, frame.size(), kMaxAgentFrameBytes);
  REQUIRE(decoded.ok());
  CHECK(std::get<TelemetryReport>(*decoded).layers.size() == 2);
}

TEST_CASE("random damage to frames never crashes the decoder", "[protocol]") {
  std::mt19937 rng(12345);
  std::string frame = encode(sample_report());
  int decoded_ok = 0, rejected = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string damaged = frame;
    int flips = 1 + static_cast<int>(rng() % 8);
    for (int f = 0; f < flips; ++f) damaged[rng() % damaged.size()] = static_cast<char>(rng());
    auto result = decode(damaged, kMaxAgentFrameBytes);
    if (result.ok()) {
      ++decoded_ok;
      // Whatever decodes still has to pass validation before anyone uses it.
      (void)validate_agent_message(*result);
    } else {
      ++rejected;
      CHECK_FALSE(result.status().message().empty());
    }
  }
  CHECK(decoded_ok + rejected == 3000);
  CHECK(rejected > 0);
  for (int trial = 0; trial < 1000; ++trial) {
    std::string noise(8 * (1 + rng() % 64), '\0');
    for (auto& ch : noise) ch = static_cast<char>(rng());
    (void)decode(noise, kMaxAgentFrameBytes);
  }
}

TEST_CASE("an amplified list pointer hits the traversal limit", "[protocol]") {
  // A List(Void) of 2^28 elements costs no bytes but would be read as 2^28
  // LayerSparsity structs: the traversal limit must stop it.
  capnp::MallocMessageBuilder builder;
  auto report = builder.initRoot<fp::wire::Envelope>().initTelemetryReport();
  report.setIdempotencyKey("k");
  auto huge = builder.getOrphanage().newOrphan<capnp::List<capnp::Void>>(1u << 28);
  capnp::toAny(report).getPointerSection()[3].adopt(kj::mv(huge));  // slot 3 = layers
  auto words = capnp::messageToFlatArray(builder);
  auto bytes = words.asBytes();
  ErrorCode why = ErrorCode::kInternal;
  auto result = decode(bytes.begin(), bytes.size(), kMaxAgentFrameBytes, &why);
  REQUIRE_FALSE(result.ok());
  CHECK(why == ErrorCode::kMalformed);
}

TEST_CASE("an unknown union member is rejected", "[protocol]") {
  std::string frame = encode(Heartbeat{1});
  // Root struct: data word holds the union discriminant (first 16 bits of word 2
  // in a single-segment flat message: segment table, root pointer, data).
  REQUIRE(frame.size() >= 24);
  frame[16] = 60;
  frame[17] = 0;
  ErrorCode why = ErrorCode::kInternal;
  auto result = decode(frame, kMaxAgentFrameBytes, &why);
  REQUIRE_FALSE(result.ok());
  CHECK(why == ErrorCode::kMalformed);
  CHECK(result.status().message().find("unknown message type 60") != std::string::npos);
}

TEST_CASE("the agent allowlist admits telemetry and refuses coordinator messages", "[protocol]") {
  CHECK(validate_agent_message(sample_report()).ok());
  CHECK(validate_agent_message(Hello{"agent-1", 1, {}, 0, ""}).ok());
  CHECK(validate_agent_message(Heartbeat{0}).ok());
  CHECK(validate_agent_message(ChunkRequest{kSha, 0, 1024}).ok());
  CHECK(validate_agent_message(sample_result()).ok());
  for (const Message& m : {Message(Chunk{kSha, 0, 4, "abcd"}), Message(Welcome{}),
                           Message(TaskAssignment{}), Message(Ack{}), Message(Reject{})}) {
    auto s = validate_agent_message(m);
    REQUIRE_FALSE(s.ok());
    CHECK(s.message().find("never accepted from an agent") != std::string::npos);
  }
  CHECK_FALSE(validate_coordinator_message(sample_report()).ok());
  CHECK(validate_coordinator_message(Chunk{kSha, 0, 4, "abcd"}).ok());
  CHECK_FALSE(validate_coordinator_message(Chunk{kSha, 2, 4, "abcd"}).ok());
}

TEST_CASE("agent messages with out-of-range fields are refused", "[protocol]") {
  auto expect_bad = [](const Message& m, const std::string& field) {
    auto s = validate_agent_message(m);
    REQUIRE_FALSE(s.ok());
    CHECK(s.message().find(field) != std::string::npos);
  };
  expect_bad(Hello{"", 1, {}, 0, ""}, "agentId");
  expect_bad(Hello{"bad id with spaces", 1, {}, 0, ""}, "agentId");
  expect_bad(Hello{std::string(kMaxIdBytes + 1, 'a'), 1, {}, 0, ""}, "agentId");
  Hello many{"a", 1, {}, 0, ""};
  many.capabilities.datasets.assign(kMaxDatasets + 1, "x");
  expect_bad(many, "datasets");
  expect_bad(ChunkRequest{"xyz", 0, 10}, "sha256");
  expect_bad(ChunkRequest{kSha, 0, 0}, "length");
  expect_bad(ChunkRequest{kSha, 0, kMaxChunkBytes + 1}, "length");

  auto r = sample_report();
  r.sparsity = 1.5;
  expect_bad(r, "sparsity");
  r = sample_report();
  r.accuracy_after = std::nan("");
  expect_bad(r, "accuracyAfter");
  r = sample_report();
  r.idempotency_key.clear();
  expect_bad(r, "idempotencyKey");
  r = sample_report();
  r.layers.assign(kMaxLayers + 1, {"l", 1, 1, 1, 0});
  expect_bad(r, "layers");
  r = sample_report();
  r.layers[0].active_units = 99;
  expect_bad(r, "activeUnits");
  r = sample_report();
  r.curve.assign(kMaxCurvePoints + 1, {0, 0, 0, 0});
  expect_bad(r, "curve");
  r = sample_report();
  r.macs_effective = r.macs_dense + 1;
  expect_bad(r, "macsEffective");
  r = sample_report();
  r.evaluated = false;
  r.accuracy_after = std::nan("");  // ignored: no labels, no accuracy
  CHECK(validate_agent_message(r).ok());

  // A task's result: its status, each report, and every report of the status's task.
  auto t = sample_result();
  t.status.idempotency_key.clear();
  expect_bad(t, "idempotencyKey");
  t = sample_result();
  t.reports[1].sparsity = 1.5;
  expect_bad(t, "sparsity");
  t = sample_result();
  t.reports[2].task_id = 8;
  expect_bad(t, "reports[].taskId");
  t = sample_result();
  t.reports.assign(kMaxTaskReports + 1, t.reports[0]);
  expect_bad(t, "reports");
  t.reports.resize(kMaxTaskReports);
  CHECK(validate_agent_message(t).ok());
}

TEST_CASE("a maximal agent report fits the agent frame limit", "[protocol]") {
  auto r = sample_report();
  r.layers.assign(kMaxLayers, {std::string(64, 'l'), 1, 1, 1, 0});
  r.curve.assign(kMaxCurvePoints, {0, 0, 0, 0});
  // 1024 layers with 64-byte names is far above any model in the zoo; the frame
  // limit still holds the realistic worst case (resnet50: ~60 layers).
  r.layers.resize(400);
  CHECK(encode(r).size() <= kMaxAgentFrameBytes);
}

TEST_CASE("a message larger than the encoder's first segment spans segments and reads back",
          "[protocol]") {
  auto r = sample_report();
  r.layers.clear();
  for (int i = 0; i < 60; ++i)
    r.layers.push_back({"layer" + std::to_string(i), 64, 32, 4096, 2048});
  std::string frame = encode(r);
  uint32_t segments_minus_one = 0;
  std::memcpy(&segments_minus_one, frame.data(), sizeof segments_minus_one);
  CHECK(segments_minus_one >= 1);  // 60 layers do not fit 1 KiB: a second segment
  auto back = std::get<TelemetryReport>(round_trip(r, kMaxAgentFrameBytes));
  REQUIRE(back.layers.size() == 60);
  CHECK(back.layers[59].name == "layer59");
  CHECK(back.layers[59].zeroed_weights == 2048);
  CHECK(back.idempotency_key == r.idempotency_key);

  // A small message stays in one segment.
  std::string ack = encode(Ack{"key-1", false});
  std::memcpy(&segments_minus_one, ack.data(), sizeof segments_minus_one);
  CHECK(segments_minus_one == 0);
}

// ---- privacy property -----------------------------------------------------------

namespace {

// Collects every field path reachable from `schema` whose type could carry bulk
// numeric or binary content: Data, AnyPointer, interfaces, and lists of anything
// but structs and Text. Struct lists and struct fields are followed.
void find_bulk_fields(capnp::StructSchema schema, const std::string& path,
                      std::vector<std::string>& found, int depth = 0) {
  REQUIRE(depth < 8);
  for (auto field : schema.getFields()) {
    std::string name = path + "." + field.getProto().getName().cStr();
    capnp::Type type = field.getType();
    if (type.isList()) {
      auto element = type.asList().getElementType();
      if (element.isStruct()) {
        find_bulk_fields(element.asStruct(), name + "[]", found, depth + 1);
      } else if (!element.isText()) {
        found.push_back(name);
      }
    } else if (type.isStruct()) {
      find_bulk_fields(type.asStruct(), name, found, depth + 1);
    } else if (type.isData() || type.isAnyPointer() || type.isInterface()) {
      found.push_back(name);
    }
  }
}

std::vector<std::string> bulk_fields_of(MessageType t) {
  auto envelope = capnp::Schema::from<fp::wire::Envelope>();
  for (auto field : envelope.getUnionFields()) {
    if (field.getProto().getDiscriminantValue() == static_cast<uint16_t>(t)) {
      std::vector<std::string> found;
      find_bulk_fields(field.getType().asStruct(), field.getProto().getName().cStr(), found);
      return found;
    }
  }
  FAIL("message type missing from the Envelope union");
  return {};
}

}  // namespace

TEST_CASE("the C++ message order matches the schema's Envelope union", "[protocol][privacy]") {
  auto envelope = capnp::Schema::from<fp::wire::Envelope>();
  std::set<std::string> names;
  for (auto field : envelope.getUnionFields()) {
    auto t = static_cast<MessageType>(field.getProto().getDiscriminantValue());
    std::string schema_name = field.getProto().getName().cStr();
    std::string cpp_name = type_name(t);
    cpp_name[0] = static_cast<char>(std::tolower(cpp_name[0]));
    CHECK(schema_name == cpp_name);
    names.insert(schema_name);
  }
  CHECK(names.size() == std::variant_size_v<Message>);
}

TEST_CASE("no agent-to-coordinator message can carry samples, labels or weights",
          "[protocol][privacy]") {
  REQUIRE(agent_message_types().size() == 8);
  for (MessageType t : agent_message_types()) {
    INFO(type_name(t));
    CHECK(bulk_fields_of(t).empty());
  }
  // The walker does see bulk fields where they exist: a Chunk carries bytes, a
  // TaskAssignment a list of sweep targets. Both are coordinator-only.
  CHECK(bulk_fields_of(MessageType::kChunk) == std::vector<std::string>{"chunk.data"});
  CHECK(bulk_fields_of(MessageType::kTaskAssignment) ==
        std::vector<std::string>{"taskAssignment.sweepTargets"});
  CHECK_FALSE(allowed_from_agent(MessageType::kChunk));
  CHECK_FALSE(allowed_from_agent(MessageType::kTaskAssignment));
}

TEST_CASE("agent report lists are per-layer and per-sparsity aggregates only",
          "[protocol][privacy]") {
  // The only lists an agent can send: capability names, per-layer sparsity and
  // curve points, each bounded far below any data set size.
  auto report = capnp::Schema::from<fp::wire::TelemetryReport>();
  std::set<std::string> lists;
  for (auto field : report.getFields()) {
    if (field.getType().isList()) lists.insert(field.getProto().getName().cStr());
  }
  CHECK(lists == std::set<std::string>{"layers", "curve"});
  CHECK(kMaxLayers <= 1024);
  CHECK(kMaxCurvePoints <= 256);
  // A task's result lists only reports (one per method), bounded as tightly.
  auto result = capnp::Schema::from<fp::wire::TaskResult>();
  lists.clear();
  for (auto field : result.getFields()) {
    if (field.getType().isList()) lists.insert(field.getProto().getName().cStr());
  }
  CHECK(lists == std::set<std::string>{"reports"});
  CHECK(kMaxTaskReports <= 64);
}

TEST_CASE("privacy noise fields and the limit error travel and are validated",
          "[protocol][security]") {
  auto r = sample_report();
  CHECK(std::get<TelemetryReport>(round_trip(r, kMaxAgentFrameBytes)).privacy_mechanism.empty());
  r.privacy_mechanism = "gaussian";
  r.privacy_epsilon = 0.5;
  r.privacy_delta = 1e-6;
  auto r2 = std::get<TelemetryReport>(round_trip(r, kMaxAgentFrameBytes));
  CHECK(r2.privacy_mechanism == "gaussian");
  CHECK(r2.privacy_epsilon == 0.5);
  CHECK(r2.privacy_delta == 1e-6);
  CHECK(validate_agent_message(r).ok());
  r.privacy_mechanism = "homebrew";
  CHECK(validate_agent_message(r).message() ==
        "TelemetryReport.privacyMechanism: must be empty, laplace or gaussian");
  r.privacy_mechanism = "laplace";
  r.privacy_epsilon = 0;
  CHECK(validate_agent_message(r).message() ==
        "TelemetryReport.privacyEpsilon: must be a finite number > 0 with a mechanism");

  auto e = std::get<Error>(round_trip(Error{ErrorCode::kLimitExceeded, "full", kCoordinatorFull}));
  CHECK(e.code == ErrorCode::kLimitExceeded);
  CHECK(e.ref == "coordinator-full");
  CHECK(std::string(error_code_name(ErrorCode::kLimitExceeded)) == "limit-exceeded");
}

TEST_CASE("endpoints are checked before libzmq reads a port above 65535 modulo 65536",
          "[protocol]") {
  for (const std::string ok : {"tcp://127.0.0.1:5555", "tcp://*:1", "tcp://[::1]:65535",
                               "tcp://eth0:5555", "ipc:///tmp/fp.sock", "inproc://loop"}) {
    INFO(ok);
    CHECK(check_endpoint(ok, EndpointUse::kBind).ok());
    CHECK(check_endpoint(ok, EndpointUse::kConnect).ok());
  }
  // A free port is a binding's to ask for, not a connection's.
  for (const std::string any : {"tcp://127.0.0.1:*", "tcp://0.0.0.0:0"}) {
    INFO(any);
    CHECK(check_endpoint(any, EndpointUse::kBind).ok());
    CHECK_FALSE(check_endpoint(any, EndpointUse::kConnect).ok());
  }
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"tcp://127.0.0.1:99999", "the port must be a number from 0 to 65535"},
      {"tcp://127.0.0.1:65536", "the port must be a number from 0 to 65535"},
      {"tcp://127.0.0.1:port", "the port must be a number"},
      {"tcp://127.0.0.1:-1", "the port must be a number"},
      {"tcp://127.0.0.1", "a TCP endpoint needs host:port"},
      {"tcp://:5555", "a TCP endpoint needs host:port"},
      {"tcp://", "nothing after tcp://"},
      {"127.0.0.1:5555", "no transport"},
      {"http://coordinator:5555", "unknown transport 'http://'"},
      {"udp://127.0.0.1:5555", "unknown transport 'udp://'"},
  };
  for (const auto& [endpoint, why] : refused) {
    INFO(endpoint);
    fp::Status s = check_endpoint(endpoint, EndpointUse::kBind);
    CHECK(s.code() == fp::Status::Code::kInvalidArgument);
    CHECK_THAT(s.message(), Catch::StartsWith("endpoint '" + endpoint + "': " + why));
    CHECK_FALSE(check_endpoint(endpoint, EndpointUse::kConnect).ok());
  }
  CHECK_THAT(check_endpoint("tcp://h:0", EndpointUse::kConnect).message(),
             Catch::Contains("from 1 to 65535"));
  // Between two programs: not inproc://, which only threads of one process share.
  CHECK(check_program_endpoint("ipc:///tmp/fp.sock", EndpointUse::kBind).ok());
  CHECK(check_program_endpoint("tcp://127.0.0.1:5555", EndpointUse::kConnect).ok());
  CHECK_THAT(check_program_endpoint("inproc://loop", EndpointUse::kConnect).message(),
             Catch::StartsWith("endpoint 'inproc://loop': inproc:// reaches only threads"));
  CHECK_THAT(check_program_endpoint("tcp://h:99999", EndpointUse::kBind).message(),
             Catch::Contains("from 0 to 65535"));
  // libzmq binds no host names: "localhost" is the loopback address a user means by it.
  CHECK(bindable_endpoint("tcp://localhost:5555") == "tcp://127.0.0.1:5555");
  CHECK(bindable_endpoint("tcp://localhost:*") == "tcp://127.0.0.1:*");
  CHECK(bindable_endpoint("tcp://127.0.0.1:5555") == "tcp://127.0.0.1:5555");
  CHECK(bindable_endpoint("ipc:///tmp/localhost") == "ipc:///tmp/localhost");
}
