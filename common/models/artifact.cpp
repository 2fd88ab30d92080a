#include "models/artifact.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "models/model_factory.h"
#include "util/sha256.h"

// Tensor bytes are written as they lie in memory; the format is little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "artifact.cpp assumes a little-endian host");

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

const std::vector<std::pair<torch::ScalarType, std::string>>& dtype_names() {
  static const std::vector<std::pair<torch::ScalarType, std::string>> kNames = {
      {torch::kFloat32, "float32"},   {torch::kFloat64, "float64"}, {torch::kFloat16, "float16"},
      {torch::kBFloat16, "bfloat16"}, {torch::kInt64, "int64"},     {torch::kInt32, "int32"},
      {torch::kInt16, "int16"},       {torch::kInt8, "int8"},       {torch::kUInt8, "uint8"},
      {torch::kBool, "bool"}};
  return kNames;
}

std::string dtype_name(torch::ScalarType t) {
  for (const auto& [type, name] : dtype_names())
    if (type == t) return name;
  TORCH_CHECK(false, "model artifact: tensors of dtype ", t, " cannot be serialised");
}

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

// Every parameter, then every buffer, each in registration order: deterministic
// for a given spec, and what the loader expects to find.
std::vector<std::pair<std::string, torch::Tensor>> state_tensors(const PrunableNet& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : model.named_parameters(true)) out.emplace_back(item.key(), item.value());
  for (const auto& item : model.named_buffers(true)) out.emplace_back(item.key(), item.value());
  return out;
}

Status corrupt(const std::string& what) { return Status::corruption("model artifact: " + what); }

// An unsigned integer field of a header object (negative or fractional numbers rejected).
bool get_u64(const json& j, const char* key, uint64_t* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned()) return false;
  *out = it->get<uint64_t>();
  return true;
}

// Checks one header tensor entry against the model's tensor and copies its bytes in.
Status load_tensor(const json& entry, size_t index, std::string_view payload,
                   const std::vector<std::pair<std::string, torch::Tensor>>& expected,
                   const std::unordered_map<std::string, size_t>& by_name, std::vector<bool>& seen,
                   uint64_t* next_offset) {
  const std::string where = "header tensor #" + std::to_string(index);
  if (!entry.is_object()) return corrupt(where + " is not an object");
  auto name_it = entry.find("name");
  auto dtype_it = entry.find("dtype");
  auto shape_it = entry.find("shape");
  if (name_it == entry.end() || !name_it->is_string())
    return corrupt(where + ": missing string field 'name'");
  const std::string name = name_it->get<std::string>();
  const std::string tensor = "tensor '" + name + "'";
  if (dtype_it == entry.end() || !dtype_it->is_string())
    return corrupt(tensor + ": missing string field 'dtype'");
  if (shape_it == entry.end() || !shape_it->is_array())
    return corrupt(tensor + ": missing array field 'shape'");
  std::vector<uint64_t> shape;
  for (const auto& d : *shape_it) {
    if (!d.is_number_unsigned()) return corrupt(tensor + ": shape holds a non-size value");
    shape.push_back(d.get<uint64_t>());
  }
  uint64_t offset = 0, nbytes = 0;
  if (!get_u64(entry, "offset", &offset) || !get_u64(entry, "nbytes", &nbytes))
    return corrupt(tensor + ": 'offset' and 'nbytes' must be unsigned integers");

  auto found = by_name.find(name);
  if (found == by_name.end()) return corrupt(tensor + " is not part of this architecture");
  if (seen[found->second]) return corrupt(tensor + " appears more than once");
  seen[found->second] = true;
  const torch::Tensor& target = expected[found->second].second;

  const std::string want_dtype = dtype_name(target.scalar_type());
  if (dtype_it->get<std::string>() != want_dtype)
    return corrupt(tensor + ": dtype '" + dtype_it->get<std::string>() + "', the model expects '" +
                   want_dtype + "'");
  std::vector<uint64_t> want_shape(target.sizes().begin(), target.sizes().end());
  if (shape != want_shape)
    return corrupt(tensor + ": shape " + shape_text(shape) + ", the model expects " +
                   shape_text(want_shape));
  const uint64_t want_bytes = static_cast<uint64_t>(target.numel()) * target.element_size();
  if (nbytes != want_bytes)
    return corrupt(tensor + ": nbytes " + std::to_string(nbytes) + ", its shape and dtype need " +
                   std::to_string(want_bytes));
  if (offset != *next_offset)
    return corrupt(tensor + ": offset " + std::to_string(offset) + ", expected " +
                   std::to_string(*next_offset) + " (tensors are stored back to back)");
  if (offset > payload.size() || nbytes > payload.size() - offset)
    return corrupt(tensor + ": bytes [" + std::to_string(offset) + ", " +
                   std::to_string(offset + nbytes) + ") run past the " +
                   std::to_string(payload.size()) + "-byte payload");
  *next_offset = offset + nbytes;

  // Freshly built models hold contiguous CPU tensors; memcpy avoids assuming the
  // payload is aligned for the element type.
  if (!target.is_contiguous() || !target.device().is_cpu())
    return Status::internal("model artifact: " + tensor +
                            " of the built model is not contiguous CPU");
  if (nbytes > 0) std::memcpy(target.data_ptr(), payload.data() + offset, nbytes);
  return Status::ok_status();
}

// The header's spec, meta and tensors; builds the model and fills it from `payload`.
Result<ModelPtr> decode(const json& header, std::string_view payload, ArtifactInfo* info) {
  if (!header.is_object()) return corrupt("header JSON is not an object");
  auto spec_it = header.find("spec");
  if (spec_it == header.end() || !spec_it->is_object())
    return corrupt("header has no 'spec' object");
  auto spec = ModelSpec::from_json(spec_it->dump());
  if (!spec.ok()) return corrupt("header spec: " + spec.status().message());

  std::map<std::string, std::string> meta;
  auto meta_it = header.find("meta");
  if (meta_it != header.end()) {
    if (!meta_it->is_object()) return corrupt("header 'meta' is not an object");
    for (auto it = meta_it->begin(); it != meta_it->end(); ++it) {
      if (!it.value().is_string()) return corrupt("header meta '" + it.key() + "' is not a string");
      meta[it.key()] = it.value().get<std::string>();
    }
  }

  auto tensors_it = header.find("tensors");
  if (tensors_it == header.end() || !tensors_it->is_array())
    return corrupt("header has no 'tensors' array");

  auto built = build_model(spec.value());
  if (!built.ok()) return corrupt("spec does not build: " + built.status().message());
  ModelPtr model = built.value();

  const auto expected = state_tensors(*model);
  std::unordered_map<std::string, size_t> by_name;
  for (size_t i = 0; i < expected.size(); ++i) by_name[expected[i].first] = i;
  std::vector<bool> seen(expected.size(), false);
  uint64_t next_offset = 0;
  torch::NoGradGuard no_grad;
  size_t index = 0;
  for (const auto& entry : *tensors_it)
    FP_RETURN_IF_ERROR(load_tensor(entry, index++, payload, expected, by_name, seen, &next_offset));
  for (size_t i = 0; i < expected.size(); ++i)
    if (!seen[i]) return corrupt("tensor '" + expected[i].first + "' is missing");
  if (next_offset != payload.size())
    return corrupt("payload has " + std::to_string(payload.size()) +
                   " bytes but its tensors cover " + std::to_string(next_offset));

  if (info) {
    info->spec = spec.value();
    info->meta = std::move(meta);
  }
  return model;
}

Status write_atomically(const std::string& path, const std::string& bytes) {
  static std::atomic<uint64_t> counter{0};
  const std::string tmp =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return Status::io_error("model artifact " + path + ": cannot create " + tmp + ": " +
                            std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string err = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return Status::io_error("model artifact " + path + ": write to " + tmp + " failed: " + err);
    }
    done += static_cast<size_t>(n);
  }
  // fsync before rename: after a crash the path holds the old or the new file, whole.
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    return Status::io_error("model artifact " + path + ": cannot flush " + tmp + ": " + err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    return Status::io_error("model artifact " + path + ": cannot rename " + tmp + ": " + err);
  }
  return Status::ok_status();
}

}  // namespace

std::string serialize_model(const PrunableNet& model,
                            const std::map<std::string, std::string>& meta, ArtifactInfo* info) {
  std::vector<torch::Tensor> data;
  json tensors = json::array();
  uint64_t offset = 0;
  for (const auto& [name, t] : state_tensors(model)) {
    torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
    const uint64_t nbytes = static_cast<uint64_t>(c.numel()) * c.element_size();
    tensors.push_back({{"name", name},
                       {"dtype", dtype_name(c.scalar_type())},
                       {"shape", c.sizes().vec()},
                       {"offset", offset},
                       {"nbytes", nbytes}});
    offset += nbytes;
    data.push_back(std::move(c));
  }
  json header = {
      {"spec", json::parse(model.spec().to_json())}, {"meta", meta}, {"tensors", tensors}};
  // Invalid UTF-8 in meta is replaced rather than thrown on.
  const std::string header_text = header.dump(-1, ' ', false, json::error_handler_t::replace);

  std::string out;
  out.reserve(kFixedSize + header_text.size() + 8 + offset + kHashSize);
  out.append(kMagic, sizeof(kMagic));
  put_le(out, kArtifactFormatVersion, 4);
  put_le(out, header_text.size(), 8);
  out += header_text;
  put_le(out, offset, 8);
  for (const auto& c : data)
    if (c.numel() > 0)
      out.append(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  const Sha256Digest digest = sha256(out);
  out.append(reinterpret_cast<const char*>(digest.data()), digest.size());

  if (info) {
    info->spec = model.spec();
    info->sha256 = to_hex(digest);
    info->meta = meta;
    info->size_bytes = out.size();
  }
  return out;
}

Result<ModelPtr> deserialize_model(const std::string& bytes, ArtifactInfo* info) {
  const std::string_view b(bytes);
  const uint64_t size = b.size();
  if (size < kFixedSize)
    return corrupt("truncated: " + std::to_string(size) + " bytes, shorter than the " +
                   std::to_string(kFixedSize) + "-byte fixed header");
  if (std::memcmp(b.data(), kMagic, sizeof(kMagic)) != 0)
    return corrupt("bad magic: not an FPMODEL file");
  const uint64_t version = get_le(b, 8, 4);
  if (version != kArtifactFormatVersion)
    return corrupt("unsupported format version " + std::to_string(version) + " (this build reads " +
                   std::to_string(kArtifactFormatVersion) + ")");
  const uint64_t header_len = get_le(b, 12, 8);
  uint64_t pos = kFixedSize;
  if (header_len > size - pos || size - pos - header_len < 8 + kHashSize)
    return corrupt("truncated: header length " + std::to_string(header_len) +
                   " leaves no room for the payload length and hash in " + std::to_string(size) +
                   " bytes");
  const std::string_view header_text = b.substr(pos, header_len);
  pos += header_len;
  const uint64_t payload_len = get_le(b, pos, 8);
  pos += 8;
  const uint64_t available = size - pos - kHashSize;
  if (payload_len != available)
    return corrupt("payload length " + std::to_string(payload_len) + " does not match the " +
                   std::to_string(available) + " bytes before the hash (truncated or padded file)");
  const std::string_view payload = b.substr(pos, payload_len);

  const Sha256Digest digest = sha256(b.substr(0, size - kHashSize));
  Sha256Digest recorded;
  std::memcpy(recorded.data(), b.data() + size - kHashSize, kHashSize);
  if (digest != recorded)
    return corrupt("SHA-256 mismatch: content hashes to " + to_hex(digest) + ", the file records " +
                   to_hex(recorded));

  const json header = json::parse(header_text.begin(), header_text.end(), nullptr, false);
  if (header.is_discarded()) return corrupt("header is not valid JSON");
  try {
    auto model = decode(header, payload, info);
    if (model.ok() && info) {
      info->sha256 = to_hex(digest);
      info->size_bytes = size;
    }
    return model;
  } catch (const std::exception& e) {  // json type errors or torch checks: still a bad file
    return corrupt(std::string("cannot decode: ") + e.what());
  }
}

Status save_model(const PrunableNet& model, const std::string& path,
                  const std::map<std::string, std::string>& meta, ArtifactInfo* info) {
  std::string bytes;
  try {
    bytes = serialize_model(model, meta, info);
  } catch (const std::exception& e) {
    return Status::internal("model artifact " + path + ": cannot serialise: " + e.what());
  }
  return write_atomically(path, bytes);
}

Result<ModelPtr> load_model(const std::string& path, ArtifactInfo* info) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::not_found("model artifact " + path + ": no such file");
    return Status::io_error("model artifact " + path + ": cannot open: " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::io_error("model artifact " + path + ": not a regular file");
  }
  std::string bytes;
  bytes.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string err = std::strerror(errno);
      ::close(fd);
      return Status::io_error("model artifact " + path + ": read failed: " + err);
    }
    if (n == 0) break;
    bytes.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  auto model = deserialize_model(bytes, info);
  if (!model.ok()) return Status::corruption(path + ": " + model.status().message());
  return model;
}

}  // namespace fp
