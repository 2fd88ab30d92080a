// Writes the fuzz seed corpora (committed under fuzz/seeds/): one valid frame of every
// message type, and small valid artifacts in both fuzz_artifact modes. Rebuild them
// after a schema or format change:
//   cmake --build build --target fp_fuzz_seeds && build/tests/fp_fuzz_seeds fuzz/seeds
#include <filesystem>
#include <fstream>
#include <iostream>

#include "models/artifact.h"
#include "models/model_factory.h"
#include "protocol/codec.h"
#include "protocol/limits.h"
#include "protocol/sample_messages.h"

namespace {

using namespace fp::proto;

void write(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::vector<std::pair<std::string, Message>> sample_messages() {
  const std::string sha(64, 'a');
  TelemetryReport r = sample_report("agent-1:7:0:fine_prune");
  TaskAssignment a{7,
                   3,
                   sha,
                   4096,
                   R"({"arch":"cnn"})",
                   R"({"target_sparsity":0.5})",
                   "fsdd",
                   "speaker=jackson",
                   {"finetune", "svd"},
                   {0.25, 0.5}};
  return {
      {"hello", Hello{"agent-1", kProtocolVersion, {2, 512, {"fsdd/speaker=jackson"}}, 0, "i1"}},
      {"welcome", Welcome{"s1", 1000, kDefaultChunkBytes, kDefaultChunkCredit, "5eed"}},
      {"reject", Reject{"protocol version 9 is not supported", kProtocolVersion}},
      {"task_assignment", a},
      {"chunk_request", ChunkRequest{sha, 65536, 65536}},
      {"chunk", Chunk{sha, 0, 4096, std::string(100, 'x')}},
      {"telemetry_report", r},
      {"ack", Ack{"agent-1:7:status", false}},
      {"heartbeat", Heartbeat{7}},
      {"error", Error{ErrorCode::kBadRequest, "offset past the end", sha}},
      {"task_status", TaskStatus{"agent-1:7:status", 7, true, 3, ""}},
      {"goodbye", Goodbye{"agent stopping"}},
      {"task_result", sample_result()},
  };
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fp_fuzz_seeds <fuzz/seeds folder>\n";
    return 2;
  }
  const std::filesystem::path root = argv[1];
  std::filesystem::create_directories(root / "fuzz_frame");
  std::filesystem::create_directories(root / "fuzz_artifact");
  for (const auto& [name, m] : sample_messages()) write(root / "fuzz_frame" / name, encode(m));

  // Tiny models: the seeds stay a few kilobytes.
  for (const char* arch : {"mlp", "cnn"}) {
    fp::ModelSpec spec;
    spec.arch = arch;
    spec.height = spec.width = 8;
    spec.num_classes = 2;
    spec.width_mult = 0.05;
    auto model = fp::build_model(spec);
    if (!model.ok()) {
      std::cerr << model.status().to_string() << "\n";
      return 1;
    }
    const std::string bytes = fp::serialize_model(**model, {{"dataset", "fsdd"}});
    write(root / "fuzz_artifact" / (std::string(arch) + "_whole"), "\x01" + bytes);
    write(root / "fuzz_artifact" / (std::string(arch) + "_unhashed"),
          std::string(1, '\0') + bytes.substr(0, bytes.size() - 32));
  }
  std::cout << "seeds written under " << root.string() << "\n";
  return 0;
}
