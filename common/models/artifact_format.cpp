#include "models/artifact_format.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "util/sha256.h"
#include "util/text.h"

// The format is little-endian; lengths are read byte by byte, tensors are copied as
// they lie in memory (artifact.cpp).
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "artifact_format.cpp assumes a little-endian host");

namespace fp {
namespace {

using nlohmann::json;

constexpr char kMagic[8] = {'F', 'P', 'M', 'O', 'D', 'E', 'L', '\0'};
constexpr uint64_t kFixedSize = 8 + 4 + 8;  // magic, version, header length
constexpr uint64_t kHashSize = 32;

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_le(std::string_view b, uint64_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v |= static_cast<uint64_t>(static_cast<uint8_t>(b[pos + i])) << (8 * i);
  return v;
}

// An unsigned integer field of a header object (negative or fractional numbers rejected).
bool get_u64(const json& j, const char* key, uint64_t* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned()) return false;
  *out = it->get<uint64_t>();
  return true;
}

Result<ArtifactTensor> parse_tensor(const json& entry, size_t index) {
  const std::string where = "header tensor #" + std::to_string(index);
  if (!entry.is_object()) return artifact_corrupt(where + " is not an object");
  auto name_it = entry.find("name");
  auto dtype_it = entry.find("dtype");
  auto shape_it = entry.find("shape");
  if (name_it == entry.end() || !name_it->is_string())
    return artifact_corrupt(where + ": missing string field 'name'");
  ArtifactTensor t;
  t.name = name_it->get<std::string>();
  const std::string tensor = "tensor '" + t.name + "'";
  if (dtype_it == entry.end() || !dtype_it->is_string())
    return artifact_corrupt(tensor + ": missing string field 'dtype'");
  t.dtype = dtype_it->get<std::string>();
  if (shape_it == entry.end() || !shape_it->is_array())
    return artifact_corrupt(tensor + ": missing array field 'shape'");
  for (const auto& d : *shape_it) {
    if (!d.is_number_unsigned()) return artifact_corrupt(tensor + ": shape holds a non-size value");
    t.shape.push_back(d.get<uint64_t>());
  }
  if (!get_u64(entry, "offset", &t.offset) || !get_u64(entry, "nbytes", &t.nbytes))
    return artifact_corrupt(tensor + ": 'offset' and 'nbytes' must be unsigned integers");
  return t;
}

// The header's spec, meta and tensor table.
Status parse_header(const json& header, ArtifactContents* out) {
  if (!header.is_object()) return artifact_corrupt("header JSON is not an object");
  auto spec_it = header.find("spec");
  if (spec_it == header.end() || !spec_it->is_object())
    return artifact_corrupt("header has no 'spec' object");
  auto spec = ModelSpec::from_json(spec_it->dump());
  if (!spec.ok()) return artifact_corrupt("header spec: " + spec.status().message());
  out->spec = spec.value();

  auto meta_it = header.find("meta");
  if (meta_it != header.end()) {
    if (!meta_it->is_object()) return artifact_corrupt("header 'meta' is not an object");
    for (auto it = meta_it->begin(); it != meta_it->end(); ++it) {
      if (!it.value().is_string())
        return artifact_corrupt("header meta '" + it.key() + "' is not a string");
      out->meta[it.key()] = it.value().get<std::string>();
    }
  }

  auto tensors_it = header.find("tensors");
  if (tensors_it == header.end() || !tensors_it->is_array())
    return artifact_corrupt("header has no 'tensors' array");
  size_t index = 0;
  for (const auto& entry : *tensors_it) {
    FP_ASSIGN_OR_RETURN(auto t, parse_tensor(entry, index++));
    out->tensors.push_back(std::move(t));
  }
  return Status::ok_status();
}

}  // namespace

Status artifact_corrupt(const std::string& what) {
  return Status::corruption("model artifact: " + what);
}

Status check_artifact_magic(std::string_view head) {
  if (head.size() >= sizeof(kMagic) && std::memcmp(head.data(), kMagic, sizeof(kMagic)) != 0)
    return artifact_corrupt("bad magic: not an FPMODEL file");
  return Status::ok_status();
}

Result<ArtifactContents> parse_artifact(std::string_view b) {
  const uint64_t size = b.size();
  if (size < kFixedSize)
    return artifact_corrupt("truncated: " + std::to_string(size) + " bytes, shorter than the " +
                            std::to_string(kFixedSize) + "-byte fixed header");
  FP_RETURN_IF_ERROR(check_artifact_magic(b));
  const uint64_t version = get_le(b, 8, 4);
  if (version < kOldestArtifactFormatVersion || version > kArtifactFormatVersion)
    return artifact_corrupt("unsupported format version " + std::to_string(version) +
                            " (this build reads " + std::to_string(kOldestArtifactFormatVersion) +
                            " to " + std::to_string(kArtifactFormatVersion) + ")");
  const uint64_t header_len = get_le(b, 12, 8);
  uint64_t pos = kFixedSize;
  if (header_len > size - pos || size - pos - header_len < 8 + kHashSize)
    return artifact_corrupt("truncated: header length " + std::to_string(header_len) +
                            " leaves no room for the payload length and hash in " +
                            std::to_string(size) + " bytes");
  const std::string_view header_text = b.substr(pos, header_len);
  pos += header_len;
  const uint64_t payload_len = get_le(b, pos, 8);
  pos += 8;
  const uint64_t available = size - pos - kHashSize;
  if (payload_len != available)
    return artifact_corrupt("payload length " + std::to_string(payload_len) +
                            " does not match the " + std::to_string(available) +
                            " bytes before the hash (truncated or padded file)");

  const Sha256Digest digest = sha256(b.substr(0, size - kHashSize));
  Sha256Digest recorded;
  std::memcpy(recorded.data(), b.data() + size - kHashSize, kHashSize);
  if (digest != recorded)
    return artifact_corrupt("SHA-256 mismatch: content hashes to " + to_hex(digest) +
                            ", the file records " + to_hex(recorded));

  const json header = json::parse(header_text.begin(), header_text.end(), nullptr, false);
  if (header.is_discarded()) return artifact_corrupt("header is not valid JSON");
  ArtifactContents out;
  out.payload = b.substr(pos, payload_len);
  out.sha256 = to_hex(digest);
  out.version = static_cast<uint32_t>(version);
  try {
    FP_RETURN_IF_ERROR(parse_header(header, &out));
  } catch (const std::exception& e) {  // a json type error: still a bad file
    return artifact_corrupt(std::string("cannot decode the header: ") + e.what());
  }
  return out;
}

Status check_tensor_extent(const ArtifactTensor& t, uint64_t payload_size, uint64_t* next_offset) {
  const std::string tensor = "tensor '" + t.name + "'";
  if (t.offset != *next_offset)
    return artifact_corrupt(tensor + ": offset " + std::to_string(t.offset) + ", expected " +
                            std::to_string(*next_offset) + " (tensors are stored back to back)");
  if (t.offset > payload_size || t.nbytes > payload_size - t.offset)
    return artifact_corrupt(tensor + ": bytes [" + std::to_string(t.offset) + ", +" +
                            std::to_string(t.nbytes) + ") run past the " +
                            std::to_string(payload_size) + "-byte payload");
  *next_offset = t.offset + t.nbytes;
  return Status::ok_status();
}

bool artifact_may_omit(const std::string& name) {
  return ends_with(name, "unit_mask") || ends_with(name, "weight_mask");
}

uint64_t artifact_size(uint64_t header_size, uint64_t payload_size) {
  return kFixedSize + header_size + 8 + payload_size + kHashSize;
}

std::string artifact_head(std::string_view header_text, uint64_t payload_size) {
  std::string out;
  out.reserve(artifact_size(header_text.size(), payload_size));
  out.append(kMagic, sizeof(kMagic));
  put_le(out, kArtifactFormatVersion, 4);
  put_le(out, header_text.size(), 8);
  out += header_text;
  put_le(out, payload_size, 8);
  return out;
}

std::string append_artifact_hash(std::string& artifact) {
  const Sha256Digest digest = sha256(artifact);
  artifact.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return to_hex(digest);
}

}  // namespace fp
