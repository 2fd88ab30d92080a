# fineprune wire protocol: every message between the coordinator and device agents.
#
# Transport: ZeroMQ ROUTER (coordinator) <-> DEALER (one per agent), TCP or IPC.
# One ZeroMQ frame per message, holding one Envelope as an unpacked flat Cap'n Proto
# message. Receivers size-limit every frame and decode with traversal and nesting
# limits (common/protocol/limits.h).
#
# PRIVACY PROPERTY (tested in tests/test_protocol.cpp):
#   Agent -> coordinator traffic is telemetry only. The messages an agent may send
#   (Hello, Heartbeat, ChunkRequest, TelemetryReport, TaskStatus, TaskResult, Error,
#   Goodbye; the allowlist in common/protocol/validate.h) contain no Data field, no
#   list of numbers and no AnyPointer, so they cannot carry raw samples, labels,
#   per-sample predictions or model weights. Their only lists are bounded lists of
#   per-layer sparsity and sparsity-accuracy curve points (aggregates, one entry per
#   layer or per sparsity level, never per sample), a task's few reports (one per
#   method), and every Text field is length-limited.
#   Chunk (the only message with bytes) flows coordinator -> agent only; a Chunk,
#   Welcome or TaskAssignment arriving at the coordinator is rejected.

@0xe5e7005f065538b6;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("fp::wire");

# Bumped on any incompatible change; checked in Hello, answered by Reject.
# 2: a Chunk may arrive as two ZeroMQ parts (see Chunk).
# 3: TaskResult. A coordinator also serves agents of version 2, which never send it.
const protocolVersion :UInt32 = 3;

# ---- agent -> coordinator -------------------------------------------------------

struct Capabilities {
  threads @0 :UInt32;
  memoryMb @1 :UInt64;
  # Private data sets this agent holds, "dataset/individual" (e.g. "fsdd/speaker=jackson").
  # Names only: the data never leave the device.
  datasets @2 :List(Text);
}

struct Hello {
  agentId @0 :Text;
  protocolVersion @1 :UInt32;
  capabilities @2 :Capabilities;
  # The task this agent is still working on after a reconnect (0: none), so the
  # coordinator keeps it assigned instead of handing it to someone else; also one whose
  # status it has yet to deliver (its outbox kept it across a restart).
  currentTaskId @3 :UInt64;
  # Random per agent process, kept across reconnects: tells a reconnect of this agent
  # from a second, misconfigured agent using the same agentId.
  instanceId @4 :Text;
  # A simulated device, which leaves once no task is left for its data: the coordinator
  # tells it so (Goodbye.noTaskLeft) instead of letting it wait for one.
  leavesWhenDone @5 :Bool;
}

struct ChunkRequest {
  sha256 @0 :Text;    # model content address (hex)
  offset @1 :UInt64;
  length @2 :UInt32;  # at most Welcome.chunkSize
}

struct LayerSparsity {
  name @0 :Text;
  units @1 :UInt64;
  activeUnits @2 :UInt64;
  weights @3 :UInt64;
  zeroedWeights @4 :UInt64;
}

# One sparsity level of a sparsity-accuracy sweep (an aggregate over the evaluation set).
struct CurvePoint {
  target @0 :Float64;
  sparsity @1 :Float64;
  accuracy @2 :Float64;
  macs @3 :UInt64;
}

# The result of one method on one individual. Retried until acknowledged; the
# coordinator stores a given idempotencyKey once.
struct TelemetryReport {
  idempotencyKey @0 :Text;
  taskId @1 :UInt64;
  method @2 :Text;             # "fine_prune" or one of the task's baselines ("svd", ...)
  individual @3 :Text;         # the task's individual
  targetSparsity @4 :Float64;
  sparsity @5 :Float64;        # zeroed / prunable weights
  overallSparsity @6 :Float64; # zeroed / all parameters
  layers @7 :List(LayerSparsity);
  evaluated @8 :Bool;          # accuracies are meaningful only when local labels exist
  accuracyBefore @9 :Float64;
  accuracyAfter @10 :Float64;
  curve @11 :List(CurvePoint);
  adaptationSamples @12 :UInt64;  # counts only
  evalSamples @13 :UInt64;
  wallSeconds @14 :Float64;
  macsDense @15 :UInt64;
  macsEffective @16 :UInt64;
  peakMemoryBytes @17 :UInt64;
  # Differential-privacy noise the device added to the accuracies before sending:
  # "" (none), "laplace" or "gaussian", with epsilon (and delta) per reported value.
  privacyMechanism @18 :Text;
  privacyEpsilon @19 :Float64;
  privacyDelta @20 :Float64;
  computeMacs @21 :UInt64;     # multiply-accumulates spent producing this model on the device
  # The model with its pruned units removed (models/compact.h): parameters and artifact
  # bytes. 0: not measured (older agents). macsEffective is counted on it too.
  compactParameters @22 :UInt64;
  compactBytes @23 :UInt64;
  # Label-free figures a device can report without labels (evaluated = false), each an
  # aggregate over its held-out slice: mean top-class probability of the general and of
  # the personalized model, and the share of samples both assign the same class.
  meanConfidenceBefore @24 :Float64;
  meanConfidenceAfter @25 :Float64;
  agreement @26 :Float64;
  modelBytes @27 :UInt64;      # size of the personalized model kept on the device (0: none)
  skippedFiles @28 :UInt64;    # device files the model could not use (a count only)
}

# Ends a task: all its reports were sent (ok) or it failed (reason).
struct TaskStatus {
  idempotencyKey @0 :Text;
  taskId @1 :UInt64;
  ok @2 :Bool;
  reports @3 :UInt32;
  reason @4 :Text;
}

# Ends a task in one message: its reports and its status, stored together and
# acknowledged by one Ack naming the status's key (an Error naming that key if any
# report could not be stored; the agent resends the whole, and reports already stored
# count as duplicates). Every report names the status's task. An agent whose reports do
# not fit one frame sends them one by one and then the status alone, as in version 2.
struct TaskResult {
  status @0 :TaskStatus;
  reports @1 :List(TelemetryReport);
}

# ---- coordinator -> agent -------------------------------------------------------

struct Welcome {
  sessionId @0 :Text;
  heartbeatMs @1 :UInt32;
  chunkSize @2 :UInt32;    # largest ChunkRequest.length the coordinator serves
  chunkCredit @3 :UInt32;  # chunk requests an agent may keep in flight
  databaseId @4 :Text;     # the coordinator's database (random, made once; "" from older
                           # coordinators): results made for another are not resent here,
                           # where the same task ids name other tasks
}

struct Reject {
  reason @0 :Text;
  supportedVersion @1 :UInt32;
}

struct TaskAssignment {
  taskId @0 :UInt64;
  campaignId @1 :UInt64;
  modelSha256 @2 :Text;
  modelSize @3 :UInt64;
  modelSpecJson @4 :Text;    # fp::ModelSpec::to_json
  pruneConfigJson @5 :Text;  # fp::PruneConfig::to_json
  dataset @6 :Text;          # which local data set ...
  individual @7 :Text;       # ... and which individual's data in it
  baselines @8 :List(Text);  # extra methods to run: "finetune", "svd"
  sweepTargets @9 :List(Float64);  # sparsity levels for the accuracy curve
}

# Framing: one ZeroMQ part holding the whole message (segment table + segments), or,
# for a Chunk only, two parts: [segment table + segment 0][segment 1], where segment 1
# holds exactly the data padded to whole words. The coordinator sends model bytes that
# way straight from its mapping of the model file, and the agent reads them in place.
struct Chunk {
  sha256 @0 :Text;
  offset @1 :UInt64;
  totalSize @2 :UInt64;
  data @3 :Data;
}

struct Ack {
  idempotencyKey @0 :Text;
  duplicate @1 :Bool;  # already stored by an earlier attempt
}

# ---- both directions ------------------------------------------------------------

struct Heartbeat {
  taskId @0 :UInt64;  # the task being worked on, 0 when idle
}

enum ErrorCode {
  malformed @0;          # frame does not decode
  tooLarge @1;           # frame over the size limit
  notAllowed @2;         # message type the receiver never accepts from this peer
  notRegistered @3;      # no Hello yet
  unknownModel @4;
  unknownTask @5;
  badRequest @6;         # decodes, but a field is out of range
  internal @7;
  taskFailed @8;
  limitExceeded @9;      # a coordinator limit (agents, message rate) refused this
}

struct Error {
  code @0 :ErrorCode;
  reason @1 :Text;
  ref @2 :Text;  # what the error is about: an idempotency key, a model hash, or empty
}

struct Goodbye {
  reason @0 :Text;
  # From the coordinator, to an idle agent whose Hello said leavesWhenDone: no running
  # campaign has a task left on its data, so it may leave (the coordinator goes on).
  noTaskLeft @1 :Bool;
}

struct Envelope {
  union {
    hello @0 :Hello;
    welcome @1 :Welcome;
    reject @2 :Reject;
    taskAssignment @3 :TaskAssignment;
    chunkRequest @4 :ChunkRequest;
    chunk @5 :Chunk;
    telemetryReport @6 :TelemetryReport;
    ack @7 :Ack;
    heartbeat @8 :Heartbeat;
    error @9 :Error;
    taskStatus @10 :TaskStatus;
    goodbye @11 :Goodbye;
    taskResult @12 :TaskResult;
  }
}
