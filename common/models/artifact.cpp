#include "models/artifact.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "models/model_factory.h"
#include "util/file_io.h"
#include "util/sha256.h"

// Tensor bytes are written as they lie in memory; the format is little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "artifact.cpp assumes a little-endian host");

namespace fp {
namespace {

using nlohmann::json;

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

// Checks one header tensor entry against the model's tensor and copies its bytes in.
Status load_tensor(const ArtifactTensor& entry, std::string_view payload,
                   const std::vector<std::pair<std::string, torch::Tensor>>& expected,
                   const std::unordered_map<std::string, size_t>& by_name, std::vector<bool>& seen,
                   uint64_t* next_offset) {
  const std::string tensor = "tensor '" + entry.name + "'";
  auto found = by_name.find(entry.name);
  if (found == by_name.end()) return artifact_corrupt(tensor + " is not part of this architecture");
  if (seen[found->second]) return artifact_corrupt(tensor + " appears more than once");
  seen[found->second] = true;
  const torch::Tensor& target = expected[found->second].second;

  const std::string want_dtype = dtype_name(target.scalar_type());
  if (entry.dtype != want_dtype)
    return artifact_corrupt(tensor + ": dtype '" + entry.dtype + "', the model expects '" +
                            want_dtype + "'");
  std::vector<uint64_t> want_shape(target.sizes().begin(), target.sizes().end());
  if (entry.shape != want_shape)
    return artifact_corrupt(tensor + ": shape " + shape_text(entry.shape) + ", the model expects " +
                            shape_text(want_shape));
  const uint64_t want_bytes = static_cast<uint64_t>(target.numel()) * target.element_size();
  if (entry.nbytes != want_bytes)
    return artifact_corrupt(tensor + ": nbytes " + std::to_string(entry.nbytes) +
                            ", its shape and dtype need " + std::to_string(want_bytes));
  FP_RETURN_IF_ERROR(check_tensor_extent(entry, payload.size(), next_offset));

  // Freshly built models hold CPU tensors, contiguous but for the layers' unwritten weight
  // masks (a broadcast view of one 1, PrunableLayerImpl::weight_mask): a stored one gets memory
  // of its own first (set_data keeps the layer's tensor). memcpy avoids assuming the payload is
  // aligned for the element type.
  if (target.device().is_cpu() && !target.is_contiguous())
    target.set_data(torch::empty(target.sizes(), target.options()));
  if (!target.is_contiguous() || !target.device().is_cpu())
    return Status::internal("model artifact: " + tensor +
                            " of the built model is not contiguous CPU");
  if (entry.nbytes > 0) std::memcpy(target.data_ptr(), payload.data() + entry.offset, entry.nbytes);
  // A raw write is invisible to the tensor's version counter, which layers use to know
  // when a mask changed (PrunableLayerImpl::all_ones): say it changed.
  target.unsafeGetTensorImpl()->bump_version();
  return Status::ok_status();
}

// A loaded compact model: its class map must name distinct original classes in order,
// and its masks are folded as compact() left them.
Status finish_compact(PrunableNet& model) {
  const auto& out = model.layers().back();
  const torch::Tensor ids = out->class_ids();
  if (!ids.defined()) return artifact_corrupt("compact model without a class map");
  const int64_t n = ids.numel();
  if (n == 0 || ids.min().item<int64_t>() < 0 ||
      ids.max().item<int64_t>() >= model.spec().num_classes ||
      (n > 1 && !(ids.slice(0, 1) > ids.slice(0, 0, n - 1)).all().item<bool>()))
    return artifact_corrupt("tensor '" + model.layer_names().back() +
                            ".class_ids' is not an increasing list of classes in [0, " +
                            std::to_string(model.spec().num_classes) + ")");
  for (PrunableLayer layer : model.layers()) layer->fold_masks();
  model.eval();
  return Status::ok_status();
}

// A spec that does not build is the file's fault; memory running out is not (Unavailable).
Status spec_unbuilt(const Status& built) {
  if (built.code() == Status::Code::kUnavailable) return built;
  return artifact_corrupt("spec does not build: " + built.message());
}

// The bytes of the tensors every artifact of `contents`' spec holds (masks left out: a version
// 2 file may omit them; a version 1 file missing one is named below), from a model built with
// meta weights (no memory of the model's size).
Result<uint64_t> required_payload_bytes(const ArtifactContents& contents) {
  ModelPtr shapes;
  {
    WeightInitScope meta(WeightInit::kMeta);
    auto built = build_model(contents.spec);
    if (!built.ok()) return spec_unbuilt(built.status());
    shapes = built.value();
  }
  uint64_t bytes = 0;
  for (const auto& [name, t] : state_tensors(*shapes))
    if (!artifact_may_omit(name)) bytes += static_cast<uint64_t>(t.numel()) * t.element_size();
  return bytes;
}

// Builds the model the header's spec names and fills it from the payload.
Result<ModelPtr> build_from(const ArtifactContents& contents) {
  // Sized before it is built: a small file whose spec names a big model had the model
  // allocated and zeroed (4.4 GB for a 108 KB file) before its tensors were compared.
  FP_ASSIGN_OR_RETURN(const uint64_t needed, required_payload_bytes(contents));
  if (needed > contents.payload.size())
    return artifact_corrupt("its spec's model (" + contents.spec.arch + ") takes " +
                            std::to_string(needed) + " bytes of tensors, its payload holds " +
                            std::to_string(contents.payload.size()));
  auto built = build_model_to_overwrite(contents.spec);
  if (!built.ok()) return spec_unbuilt(built.status());
  ModelPtr model = built.value();

  const auto expected = state_tensors(*model);
  std::unordered_map<std::string, size_t> by_name;
  for (size_t i = 0; i < expected.size(); ++i) by_name[expected[i].first] = i;
  std::vector<bool> seen(expected.size(), false);
  uint64_t next_offset = 0;
  torch::NoGradGuard no_grad;
  for (const auto& entry : contents.tensors)
    FP_RETURN_IF_ERROR(load_tensor(entry, contents.payload, expected, by_name, seen, &next_offset));
  for (size_t i = 0; i < expected.size(); ++i)
    if (!seen[i] && !(contents.version >= 2 && artifact_may_omit(expected[i].first)))
      return artifact_corrupt("tensor '" + expected[i].first + "' is missing");
  if (next_offset != contents.payload.size())
    return artifact_corrupt("payload has " + std::to_string(contents.payload.size()) +
                            " bytes but its tensors cover " + std::to_string(next_offset));
  if (contents.spec.is_compact()) FP_RETURN_IF_ERROR(finish_compact(*model));
  // A shipped model is for inference: a caller that forgot eval() would otherwise update
  // BatchNorm's running statistics with every batch it ran. Training sets train() itself.
  model->eval();
  return model;
}

// What an artifact of `model` holds: its header and the tensors of its payload, in order.
struct ArtifactPlan {
  std::string header_text;
  std::vector<torch::Tensor> data;  // contiguous, on the CPU
  uint64_t payload_size = 0;
};

ArtifactPlan plan_artifact(const PrunableNet& model,
                           const std::map<std::string, std::string>& meta) {
  ArtifactPlan plan;
  json tensors = json::array();
  for (const auto& [name, t] : state_tensors(model)) {
    if (artifact_may_omit(name) && t.numel() > 0 && (t == 1).all().item<bool>()) continue;
    torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
    const uint64_t nbytes = static_cast<uint64_t>(c.numel()) * c.element_size();
    tensors.push_back({{"name", name},
                       {"dtype", dtype_name(c.scalar_type())},
                       {"shape", c.sizes().vec()},
                       {"offset", plan.payload_size},
                       {"nbytes", nbytes}});
    plan.payload_size += nbytes;
    plan.data.push_back(std::move(c));
  }
  json header = {
      {"spec", json::parse(model.spec().to_json())}, {"meta", meta}, {"tensors", tensors}};
  // Invalid UTF-8 in meta is replaced rather than thrown on.
  plan.header_text = header.dump(-1, ' ', false, json::error_handler_t::replace);
  return plan;
}

}  // namespace

std::string serialize_model(const PrunableNet& model,
                            const std::map<std::string, std::string>& meta, ArtifactInfo* info) {
  const ArtifactPlan plan = plan_artifact(model, meta);
  std::string out = artifact_head(plan.header_text, plan.payload_size);
  for (const auto& c : plan.data)
    if (c.numel() > 0)
      out.append(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  const std::string sha = append_artifact_hash(out);

  if (info) {
    info->spec = model.spec();
    info->sha256 = sha;
    info->meta = meta;
    info->size_bytes = out.size();
  }
  return out;
}

uint64_t serialized_size(const PrunableNet& model, const std::map<std::string, std::string>& meta) {
  const ArtifactPlan plan = plan_artifact(model, meta);
  return artifact_size(plan.header_text.size(), plan.payload_size);
}

namespace {

// A float tensor's memory is read directly (all of it: an expanded view's one element), as a
// load checks some twenty small tensors and LibTorch's isfinite on each doubled the cost of
// loading a small model (0.1 ms more, fp-bench agent_load).
bool all_finite(const torch::Tensor& t) {
  if (!t.is_floating_point()) return true;
  if (t.scalar_type() != torch::kFloat || !t.has_storage())
    return torch::isfinite(t).all().item<bool>();
  const float* p = static_cast<const float*>(t.storage().data());
  const size_t n = t.storage().nbytes() / sizeof(float);
  bool finite = true;
  for (size_t i = 0; i < n; ++i) finite &= std::isfinite(p[i]);
  return finite;
}

// Well formed, but a NaN or an infinity (a training that diverged, a broken export) makes
// every activation energy, prediction and accuracy meaningless: a device personalized such a
// model without a word ("mean confidence nan -> nan").
Status check_finite(const PrunableNet& model) {
  auto finite = [](const std::string& name, const torch::Tensor& t) -> Status {
    if (!all_finite(t))
      return Status::invalid_argument("its tensor '" + name + "' holds NaN or infinite values");
    return Status::ok_status();
  };
  for (const auto& p : model.named_parameters()) FP_RETURN_IF_ERROR(finite(p.key(), p.value()));
  for (const auto& b : model.named_buffers()) FP_RETURN_IF_ERROR(finite(b.key(), b.value()));
  return Status::ok_status();
}

}  // namespace

Result<ModelPtr> deserialize_model(std::string_view bytes, ArtifactInfo* info) {
  FP_ASSIGN_OR_RETURN(auto contents, parse_artifact(bytes));
  try {
    auto model = build_from(contents);
    if (model.ok()) FP_RETURN_IF_ERROR(check_finite(**model));
    if (model.ok() && info) {
      info->spec = contents.spec;
      info->meta = std::move(contents.meta);
      info->sha256 = contents.sha256;
      info->size_bytes = bytes.size();
    }
    return model;
  } catch (const std::exception& e) {  // torch checks: still a bad file
    return artifact_corrupt(std::string("cannot decode: ") + e.what());
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
  return replace_file(path, bytes, "model artifact");
}

namespace {

// A file's bytes mapped read-only, every page mapped at once (MAP_POPULATE): reading a
// model into a fresh buffer faulted each 4 KB page of it in, 3 ms of a first 0.4 MB load
// on a VM, against 0.3 ms mapped. But unmapping interrupts the process's other cores to
// flush their TLBs: in a simulation host loading a 28 KB model per agent, mapping cost
// 0.9-1.2 s a thousand loads against 0.3-0.8 s read. So files from kMapFrom on are
// mapped, smaller ones read. Model files are replaced by rename, never rewritten in place
// (replace_file), so a mapping does not change under the parser.
constexpr size_t kMapFrom = size_t{256} << 10;

class MappedFile {
 public:
  MappedFile(int fd, size_t size) : size_(size) {
    if (size_ == 0) return;
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (p != MAP_FAILED) data_ = static_cast<const char*>(p);
  }
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  bool mapped() const { return data_ != nullptr; }
  std::string_view bytes() const { return {data_, size_}; }

 private:
  const char* data_ = nullptr;
  size_t size_;
};

// The whole file by read(): small files, and where mapping is refused (some file systems).
Status read_all(int fd, const std::string& path, std::string* bytes) {
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return Status::io_error("model artifact " + path + ": read failed: " + std::strerror(errno));
    if (n == 0) return Status::ok_status();
    bytes->append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

Result<ModelPtr> load_model(const std::string& path, ArtifactInfo* info) {
  // O_NONBLOCK: a FIFO named as a model is refused below instead of waiting for a writer
  // (for a regular file it changes nothing).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return Status::not_found("model artifact " + path + ": no such file");
    return Status::io_error("model artifact " + path + ": cannot open: " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::io_error("model artifact " + path + ": not a regular file");
  }
  const auto size = static_cast<size_t>(st.st_size);
  char head[8];
  if (::pread(fd, head, sizeof(head), 0) == static_cast<ssize_t>(sizeof(head))) {
    if (Status magic = check_artifact_magic({head, sizeof(head)}); !magic.ok()) {
      ::close(fd);
      return magic.with_context(path + ": ");
    }
  }
  MappedFile mapped(fd, size >= kMapFrom ? size : 0);
  std::string read_bytes;
  if (!mapped.mapped()) {
    read_bytes.reserve(size);
    Status read = read_all(fd, path, &read_bytes);
    if (!read.ok()) {
      ::close(fd);
      return read;
    }
  }
  ::close(fd);  // a mapping outlives its descriptor
  auto model = deserialize_model(mapped.mapped() ? mapped.bytes() : read_bytes, info);
  if (!model.ok()) return Status::corruption(path + ": " + model.status().message());
  return model;
}

}  // namespace fp
