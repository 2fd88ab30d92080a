// Model artifacts: bit-exact round trips, and damaged files rejected with a clear Status.
#include <torch/torch.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

#include "models/artifact.h"
#include "models/compact.h"
#include "models/model_factory.h"
#include "models/pruned_state.h"
#include "temp_dir.h"
#include "util/sha256.h"

namespace {

namespace fs = std::filesystem;
using fp::ModelSpec;
using fp::Status;
using fp::testing::TempDir;

fp::ModelPtr build(const std::string& arch, double width_mult = 0.25) {
  ModelSpec s;
  s.arch = arch;
  s.height = 28;
  s.width = 28;
  s.num_classes = 10;
  s.width_mult = width_mult;
  torch::manual_seed(11);
  auto built = fp::build_model(s);
  REQUIRE(built.ok());
  return built.value();
}

// Trained-looking state: BatchNorm statistics moved, some units and weights pruned.
void perturb(fp::PrunableNet& m) {
  torch::NoGradGuard no_grad;
  m.train();
  m.forward(torch::randn({4, 1, 28, 28}));
  m.eval();
  for (fp::PrunableLayer l : m.layers()) {
    l->unit_mask()[0] = 0.0f;
    l->mutable_weight_mask().copy_((torch::rand(l->weight_mask().sizes()) > 0.3).to(torch::kFloat));
  }
}

void require_same_state(fp::PrunableNet& a, fp::PrunableNet& b) {
  auto ap = a.named_parameters(true), bp = b.named_parameters(true);
  REQUIRE(ap.size() == bp.size());
  for (const auto& item : ap) {
    INFO(item.key());
    REQUIRE(bp.contains(item.key()));
    REQUIRE(torch::equal(item.value(), bp[item.key()]));
  }
  auto ab = a.named_buffers(true), bb = b.named_buffers(true);
  REQUIRE(ab.size() == bb.size());
  for (const auto& item : ab) {
    INFO(item.key());
    REQUIRE(bb.contains(item.key()));
    REQUIRE(item.value().scalar_type() == bb[item.key()].scalar_type());
    REQUIRE(torch::equal(item.value(), bb[item.key()]));
  }
}

// The layout of artifact.h, parsed independently of the implementation.
struct Parts {
  std::string magic;
  uint32_t version = 0;
  std::string header;
  std::string payload;
};

uint64_t read_le(const std::string& b, size_t pos, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= uint64_t(uint8_t(b[pos + i])) << (8 * i);
  return v;
}

void write_le(std::string& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}

Parts split(const std::string& b) {
  Parts p;
  p.magic = b.substr(0, 8);
  p.version = uint32_t(read_le(b, 8, 4));
  const uint64_t hlen = read_le(b, 12, 8);
  p.header = b.substr(20, hlen);
  const uint64_t plen = read_le(b, 20 + hlen, 8);
  p.payload = b.substr(28 + hlen, plen);
  REQUIRE(28 + hlen + plen + 32 == b.size());
  return p;
}

// Reassembles with a freshly computed (valid) hash.
std::string assemble(const Parts& p) {
  std::string out = p.magic;
  write_le(out, p.version, 4);
  write_le(out, p.header.size(), 8);
  out += p.header;
  write_le(out, p.payload.size(), 8);
  out += p.payload;
  const auto digest = fp::sha256(out);
  out.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return out;
}

// Deserialises `bytes`, expecting a Corruption whose message contains `needle`.
void require_corrupt(const std::string& bytes, const std::string& needle) {
  auto r = fp::deserialize_model(bytes);
  REQUIRE_FALSE(r.ok());
  INFO(r.status().to_string());
  REQUIRE(r.status().code() == Status::Code::kCorruption);
  REQUIRE_THAT(r.status().message(), Catch::Contains(needle));
}

// Applies `edit` to the header JSON and reassembles with a valid hash.
std::string tamper(const std::string& bytes, const std::function<void(nlohmann::json&)>& edit) {
  Parts p = split(bytes);
  auto j = nlohmann::json::parse(p.header);
  edit(j);
  p.header = j.dump();
  return assemble(p);
}

}  // namespace

TEST_CASE("artifacts round-trip every architecture bit for bit", "[artifact]") {
  for (const auto& arch : fp::known_architectures()) {
    INFO(arch);
    auto m = build(arch, 0.125);
    perturb(*m);
    const std::map<std::string, std::string> meta = {{"data", "fashion-mnist"},
                                                     {"accuracy", "0.91"}};
    fp::ArtifactInfo saved;
    const std::string bytes = fp::serialize_model(*m, meta, &saved);
    REQUIRE(saved.size_bytes == bytes.size());
    REQUIRE(fp::serialized_size(*m, meta) == bytes.size());  // what telemetry reports
    REQUIRE(saved.sha256 == fp::sha256_hex(std::string_view(bytes).substr(0, bytes.size() - 32)));
    REQUIRE(saved.spec == m->spec());

    // The layout is the documented one.
    Parts p = split(bytes);
    REQUIRE(p.magic == std::string("FPMODEL\0", 8));
    REQUIRE(p.version == fp::kArtifactFormatVersion);
    REQUIRE(assemble(p) == bytes);

    fp::ArtifactInfo loaded;
    auto r = fp::deserialize_model(bytes, &loaded);
    INFO(r.status().to_string());
    REQUIRE(r.ok());
    auto copy = r.value();
    REQUIRE(copy->spec() == m->spec());
    REQUIRE(loaded.spec == m->spec());
    REQUIRE(loaded.meta == meta);
    REQUIRE(loaded.sha256 == saved.sha256);
    REQUIRE(loaded.size_bytes == bytes.size());
    require_same_state(*m, *copy);
    REQUIRE(fp::serialize_model(*copy, meta) == bytes);

    // Loaded for inference: every module in evaluation mode without the caller asking, so
    // running it leaves BatchNorm's running statistics as they were shipped.
    REQUIRE_FALSE(copy->is_training());
    for (const auto& module : copy->modules()) REQUIRE_FALSE(module->is_training());
    torch::NoGradGuard no_grad;
    torch::Tensor x = torch::randn({2, 1, 28, 28});
    REQUIRE(torch::equal(m->forward(x), copy->forward(x)));
    require_same_state(*m, *copy);
  }
}

TEST_CASE("pruning masks survive a round trip", "[artifact]") {
  auto m = build("resnet18");
  std::vector<int64_t> active;
  {
    torch::NoGradGuard no_grad;
    for (fp::PrunableLayer l : m->layers()) {
      l->unit_mask().slice(0, 0, l->num_units() / 2).zero_();
      active.push_back(l->num_active_units());
    }
  }
  auto r = fp::deserialize_model(fp::serialize_model(*m));
  REQUIRE(r.ok());
  auto copy = r.value();
  REQUIRE(copy->layers().size() == active.size());
  for (size_t i = 0; i < active.size(); ++i) {
    fp::PrunableLayer cl = copy->layers()[i], ml = m->layers()[i];
    REQUIRE(cl->num_active_units() == active[i]);
    REQUIRE(torch::equal(cl->unit_mask(), ml->unit_mask()));
  }
  // Masks with zeros are stored, all-ones ones are not: the size without serialising agrees.
  REQUIRE(fp::serialized_size(*m) == fp::serialize_model(*m).size());
  // A different mask gives a different content address.
  fp::ArtifactInfo a, b;
  fp::serialize_model(*m, {}, &a);
  {
    torch::NoGradGuard no_grad;
    fp::PrunableLayer last = m->layers()[3];
    last->unit_mask()[last->num_units() - 1] = 0.0f;
  }
  fp::serialize_model(*m, {}, &b);
  REQUIRE(a.sha256 != b.sha256);
}

TEST_CASE("a model is told general or personalized (masked, compact) by its masks and spec",
          "[artifact]") {
  auto m = build("mlp");
  CHECK(fp::pruned_state(*m).empty());
  int64_t units = 0, weights = 0;
  for (const fp::PrunableLayer& l : m->layers()) {
    units += l->num_units();
    weights += l->num_weights();
  }
  {
    torch::NoGradGuard no_grad;
    fp::PrunableLayer second = m->layers()[1];
    second->mutable_weight_mask().view(-1)[3] = 0.0f;
  }
  CHECK(fp::pruned_state(*m) == "masked: 1 of " + std::to_string(weights) + " weights pruned");
  {
    torch::NoGradGuard no_grad;
    m->layers()[0]->unit_mask().slice(0, 0, 2).zero_();
  }
  CHECK(fp::pruned_state(*m) == "masked: 2 of " + std::to_string(units) + " units pruned, 1 of " +
                                    std::to_string(weights) + " weights pruned");
  auto c = fp::compact(*m);
  REQUIRE(c.ok());
  CHECK(fp::pruned_state(*c->model) == "compact: its pruned units are gone");
}

TEST_CASE("a well-formed artifact holding NaN or infinity is refused, naming the tensor",
          "[artifact]") {
  for (float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    auto m = build("cnn");
    std::string name;
    {
      torch::NoGradGuard no_grad;
      auto params = m->named_parameters();
      name = params.keys()[1];
      params[name].view(-1)[0] = bad;
    }
    auto r = fp::deserialize_model(fp::serialize_model(*m));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message() == "its tensor '" + name + "' holds NaN or infinite values");
  }
}

TEST_CASE("save_model writes atomically and load_model reads it back", "[artifact]") {
  // load_model reads files under 256 KB and maps larger ones: both ways here.
  const double width = GENERATE(0.25, 1.0);
  const bool mapped = width == 1.0;
  TempDir dir;
  const std::string path = (dir.path / "model.fpm").string();
  auto m = build("cnn", width);
  perturb(*m);
  fp::ArtifactInfo saved;
  REQUIRE(fp::save_model(*m, path, {{"k", "v"}}, &saved).ok());
  REQUIRE(fs::file_size(path) == saved.size_bytes);
  CHECK((saved.size_bytes >= (256u << 10)) == mapped);
  // No temporary file is left behind.
  REQUIRE(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);

  fp::ArtifactInfo loaded;
  auto r = fp::load_model(path, &loaded);
  REQUIRE(r.ok());
  REQUIRE(loaded.sha256 == saved.sha256);
  REQUIRE(loaded.meta.at("k") == "v");
  require_same_state(*m, *r.value());

  // Overwriting replaces the file whole.
  auto other = build("mlp");
  REQUIRE(fp::save_model(*other, path).ok());
  auto r2 = fp::load_model(path, &loaded);
  REQUIRE(r2.ok());
  REQUIRE(r2.value()->spec().arch == "mlp");

  auto missing = fp::load_model((dir.path / "nope.fpm").string());
  REQUIRE(missing.status().code() == Status::Code::kNotFound);
  REQUIRE_THAT(missing.status().message(), Catch::Contains("nope.fpm"));

  auto no_dir = fp::save_model(*m, (dir.path / "no" / "such" / "dir.fpm").string());
  REQUIRE(no_dir.code() == Status::Code::kIOError);

  // A damaged file on disk names the path.
  {
    std::string bytes = fp::serialize_model(*m);
    bytes[bytes.size() / 2] ^= 0x40;
    std::FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f);
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  auto bad = fp::load_model(path);
  REQUIRE(bad.status().code() == Status::Code::kCorruption);
  REQUIRE_THAT(bad.status().message(), Catch::Contains(path));

  // So does an empty one.
  std::fclose(std::fopen(path.c_str(), "wb"));
  auto empty = fp::load_model(path);
  REQUIRE(empty.status().code() == Status::Code::kCorruption);
  REQUIRE_THAT(empty.status().message(), Catch::Contains(path));
}

TEST_CASE("corrupted artifacts are rejected with a clear Status", "[artifact]") {
  auto m = build("vgg7", 0.125);
  const std::string good = fp::serialize_model(*m);
  REQUIRE(fp::deserialize_model(good).ok());
  const Parts parts = split(good);
  const size_t payload_start = 28 + parts.header.size();

  SECTION("a flipped payload byte fails the hash") {
    std::string b = good;
    b[payload_start + parts.payload.size() / 3] ^= 0x01;
    require_corrupt(b, "SHA-256 mismatch");
  }
  SECTION("a flipped hash byte fails the hash") {
    std::string b = good;
    b[b.size() - 1] ^= 0x80;
    require_corrupt(b, "SHA-256 mismatch");
  }
  SECTION("truncations") {
    for (size_t len : {size_t(0), size_t(7), size_t(19)})
      require_corrupt(good.substr(0, len), "shorter than the 20-byte fixed header");
    for (size_t len : {size_t(20), size_t(21 + parts.header.size() / 2), payload_start + 4})
      require_corrupt(good.substr(0, len), "leaves no room");
    for (size_t len : {payload_start + 40, good.size() - 32, good.size() - 1})
      require_corrupt(good.substr(0, len), "does not match");
    require_corrupt(good + "x", "does not match");  // trailing garbage
  }
  SECTION("wrong magic") {
    std::string b = good;
    b[0] = 'X';
    require_corrupt(b, "bad magic");
  }
  SECTION("wrong version") {
    Parts p = parts;
    p.version = fp::kArtifactFormatVersion + 1;
    require_corrupt(assemble(p),
                    "unsupported format version " + std::to_string(fp::kArtifactFormatVersion + 1));
  }
  SECTION("header lengths pointing past the file") {
    std::string b = good;
    for (int i = 0; i < 8; ++i) b[12 + i] = char(0xff);
    require_corrupt(b, "leaves no room");
    Parts p = parts;
    std::string c = assemble(p);
    for (int i = 0; i < 8; ++i) c[20 + p.header.size() + i] = char(0xff);
    require_corrupt(c, "payload length");
  }
  SECTION("header tampered with and the hash recomputed") {
    require_corrupt(tamper(good, [](auto& j) { j["tensors"][0]["shape"][0] = 3; }),
                    "the model expects [");
    require_corrupt(
        tamper(good,
               [](auto& j) {
                 auto& t = j["tensors"][0];
                 t["shape"] = {t["shape"][1], t["shape"][0], t["shape"][2], t["shape"][3]};
               }),
        "shape");
    require_corrupt(tamper(good, [](auto& j) { j["tensors"][0]["dtype"] = "float64"; }),
                    "dtype 'float64'");
    require_corrupt(tamper(good, [](auto& j) { j["tensors"][1]["offset"] = 4; }), "offset 4");
    require_corrupt(tamper(good, [](auto& j) { j["tensors"][1]["nbytes"] = 8; }), "nbytes 8");
    require_corrupt(tamper(good, [](auto& j) { j["tensors"].erase(j["tensors"].size() - 1); }),
                    "is missing");
    require_corrupt(tamper(good, [](auto& j) { j["tensors"].push_back(j["tensors"][0]); }),
                    "more than once");
    require_corrupt(tamper(good, [](auto& j) { j["tensors"][0]["name"] = "ghost.weight"; }),
                    "'ghost.weight' is not part of this architecture");
    // A spec naming a bigger model than the payload holds is refused before that model is
    // allocated (a 108 KB file whose spec named a 4 GB model took 4.4 GB and 19 s to refuse).
    require_corrupt(tamper(good, [](auto& j) { j["spec"]["arch"] = "resnet18"; }),
                    "tensors, its payload holds");
    require_corrupt(tamper(good, [](auto& j) { j["spec"]["width_mult"] = 2.0; }),
                    "tensors, its payload holds");
    require_corrupt(tamper(good, [](auto& j) { j["spec"]["arch"] = "alexnet"; }), "header spec");
    require_corrupt(tamper(good, [](auto& j) { j["spec"]["num_classes"] = 0; }), "num_classes");
    require_corrupt(tamper(good, [](auto& j) { j["tensors"][0]["offset"] = -1; }),
                    "unsigned integers");
    require_corrupt(tamper(good, [](auto& j) { j["meta"] = {{"k", 1}}; }), "meta 'k'");
    require_corrupt(tamper(good, [](auto& j) { j.erase("tensors"); }), "'tensors'");
    require_corrupt(tamper(good, [](auto& j) { j = nlohmann::json::array(); }), "not an object");
    Parts p = parts;
    p.header = "{\"spec\": ";
    require_corrupt(assemble(p), "not valid JSON");
  }
}

TEST_CASE("random truncations and byte flips never crash the loader", "[artifact]") {
  auto m = build("cnn", 0.25);
  perturb(*m);
  const std::string good = fp::serialize_model(*m);
  std::mt19937_64 rng(1234);
  for (int i = 0; i < 200; ++i) {
    std::string b = good;
    if (i % 2 == 0) {
      b.resize(std::uniform_int_distribution<size_t>(0, good.size() - 1)(rng));
    } else {
      const int flips = 1 + int(rng() % 4);
      for (int k = 0; k < flips; ++k) {
        // Half the flips land in the first 64 bytes, where the lengths live.
        const size_t limit = (rng() % 2) ? std::min<size_t>(64, b.size()) : b.size();
        b[rng() % limit] ^= char(1 + rng() % 255);
      }
      if (b == good) b[0] ^= 1;  // two flips of one byte can cancel out
    }
    auto r = fp::deserialize_model(b);
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.status().code() == Status::Code::kCorruption);
    REQUIRE_FALSE(r.status().message().empty());
  }
  REQUIRE(fp::deserialize_model(good).ok());
}

TEST_CASE("all-ones masks are not stored; version 1 files with every mask still load",
          "[artifact]") {
  auto dense = build("cnn");
  const std::string dense_bytes = fp::serialize_model(*dense);
  const auto header = nlohmann::json::parse(split(dense_bytes).header);
  for (const auto& t : header["tensors"])
    REQUIRE(t["name"].get<std::string>().find("mask") == std::string::npos);
  auto reloaded = fp::deserialize_model(dense_bytes);
  REQUIRE(reloaded.ok());
  require_same_state(*dense, *reloaded.value());

  auto pruned = build("cnn");
  perturb(*pruned);  // every layer has a unit and weights pruned: every mask is stored
  Parts v1 = split(fp::serialize_model(*pruned));
  v1.version = 1;
  auto old = fp::deserialize_model(assemble(v1));
  REQUIRE(old.ok());
  require_same_state(*pruned, *old.value());
  Parts incomplete = split(dense_bytes);
  incomplete.version = 1;  // version 1 requires every tensor
  require_corrupt(assemble(incomplete), "is missing");
}
