// Model artifacts: one versioned file holding the ModelSpec, every parameter and
// buffer (pruning masks included) and a SHA-256 over the content.
//
// The container (layout, hash, header) is read by artifact_format.h without torch.
// The header lists each tensor's name, dtype, shape, offset and length. Loading
// checks every length and offset against the file, the hash, and the shapes
// against the model the spec builds: a damaged file is a Status, never a crash.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "models/artifact_format.h"
#include "models/prunable_net.h"
#include "util/status.h"

namespace fp {

struct ArtifactInfo {
  ModelSpec spec;
  // Hex: the artifact's own check, the SHA-256 of all but its last 32 bytes (where it is
  // recorded); not the SHA-256 of the whole file, which names it in a registry and which
  // downloads verify.
  std::string sha256;
  std::map<std::string, std::string> meta;  // free-form: training data, accuracy, ...
  uint64_t size_bytes = 0;
};

// Serialises `model` (plus `meta`) to bytes; `info` (optional) receives hash and size.
std::string serialize_model(const PrunableNet& model,
                            const std::map<std::string, std::string>& meta = {},
                            ArtifactInfo* info = nullptr);
// The size serialize_model's bytes would have, without copying the tensors or hashing
// them (what a model's telemetry reports as its artifact size).
uint64_t serialized_size(const PrunableNet& model,
                         const std::map<std::string, std::string>& meta = {});
// The model comes back in evaluation mode, as every loader's does (training sets train()).
// A well-formed artifact whose tensors hold a NaN or an infinity is refused as well, naming
// the tensor: no program can use it.
Result<ModelPtr> deserialize_model(std::string_view bytes, ArtifactInfo* info = nullptr);

Status save_model(const PrunableNet& model, const std::string& path,
                  const std::map<std::string, std::string>& meta = {},
                  ArtifactInfo* info = nullptr);
Result<ModelPtr> load_model(const std::string& path, ArtifactInfo* info = nullptr);

}  // namespace fp
