// In-process fixtures for networking tests: a temporary directory, a coordinator
// running on its own thread over a real loopback socket, and a raw DEALER client
// that speaks the wire protocol by hand.
#pragma once

#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <thread>

#include "coordinator/model_registry.h"
#include "coordinator/server.h"
#include "protocol/codec.h"
#include "protocol/framing.h"
#include "security/curve.h"
#include "security/keys.h"
#include "store/sqlite.h"
#include "store/store.h"
#include "temp_dir.h"

namespace fp::testing {

namespace fs = std::filesystem;

using fp::testing::TempDir;

inline std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// A coordinator with fast heartbeats (50 ms, an agent dead after `liveness` missed ones)
// and small model chunks under flow control, so tests see timeouts and credit quickly.
inline coord::ServerConfig fast_server(int liveness = 4) {
  coord::ServerConfig c;
  c.heartbeat_ms = 50;
  c.liveness = liveness;
  c.chunk_size = 64 << 10;
  c.chunk_credit = 4;
  return c;
}

inline security::KeyPair new_keys() {
  auto k = security::generate_keypair();
  REQUIRE(k.ok());
  return *k;
}

// fast_server() over CURVE with the coordinator's key pair `keys`.
inline coord::ServerConfig curve_server(const security::KeyPair& keys, int liveness = 4) {
  auto c = fast_server(liveness);
  c.security.plain = false;
  c.security.own = keys;
  return c;
}

// The task of `individual`, if the store has one.
inline std::optional<store::TaskRecord> task_of(store::Store& db, const std::string& individual) {
  auto tasks = db.tasks();
  REQUIRE(tasks.ok());
  for (const auto& t : *tasks) {
    if (t.individual == individual) return t;
  }
  return std::nullopt;
}

// Polls `done` every 10 ms for up to `timeout`.
inline bool wait_until(const std::function<bool()>& done,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

// A test's own connection to the fixture's database, for writes beside a serving
// coordinator: it waits for the coordinator's transactions (each heartbeat tick opens one)
// instead of failing at once with "database is locked" (a CI run met that race).
inline std::unique_ptr<sql::Database> open_fixture_db(const TempDir& dir) {
  auto db = sql::Database::open(dir.file("fp.db"));
  REQUIRE(db.ok());
  REQUIRE((*db)->exec("PRAGMA busy_timeout = 5000").ok());
  return std::move(db).value();
}

// Makes the fixture's campaign ask for `baselines` besides fine_prune: one row per (task,
// method), so a test storing many rows for a task needs as many methods. Before the task
// is assigned (the coordinator keeps them from then).
inline void set_baselines(const TempDir& dir, const std::vector<std::string>& baselines) {
  std::string list;
  for (const auto& name : baselines) list += (list.empty() ? "\"" : ",\"") + name + "\"";
  auto db = open_fixture_db(dir);
  REQUIRE(db->exec("UPDATE campaigns SET baselines_json = '[" + list + "]'").ok());
}

// A store, a registry holding one opaque "model" and a campaign over dataset
// "toy" with the given individuals; the coordinator serves it from a thread.
class Coordinator {
 public:
  Coordinator(const TempDir& dir, std::vector<std::string> individuals, size_t model_bytes,
              coord::ServerConfig config = {}, zmq::context_t* context = nullptr)
      : own_context_(context ? nullptr : new zmq::context_t(1)),
        context_(context ? *context : *own_context_) {
    auto store = store::Store::open(dir.file("fp.db"));
    REQUIRE(store.ok());
    store_ = std::move(store).value();
    registry_ = std::make_unique<coord::ModelRegistry>(dir.file("models"), *store_);
    model_bytes_ = random_bytes(model_bytes, 7);
    auto model = registry_->add(model_bytes_, "{\"arch\":\"toy\"}", "{}", 1.0);
    REQUIRE(model.ok());
    sha_ = model->sha256;
    store::CampaignRecord c;
    c.name = "toy-campaign";
    c.model_sha256 = sha_;
    c.dataset = "toy";
    c.prune_config_json = "{\"target_sparsity\":0.5}";
    c.baselines_json = "[\"finetune\"]";
    c.sweep_targets_json = "[0.25,0.5]";
    c.open_enrollment = individuals.empty();
    auto id = store_->create_campaign(c);
    REQUIRE(id.ok());
    campaign_id_ = *id;
    for (const auto& ind : individuals) REQUIRE(store_->add_task(campaign_id_, ind).ok());
    if (config.endpoint == coord::ServerConfig{}.endpoint) config.endpoint = "tcp://127.0.0.1:*";
    // Protocol tests run plain unless they hand the coordinator a CURVE key pair.
    if (config.security.own.secret_key.empty()) config.security.plain = true;
    config_ = config;
    start();
  }
  ~Coordinator() { stop(); }

  void start() {
    server_.reset();
    server_ = std::make_unique<coord::Server>(config_, context_, *store_, *registry_);
    // ZeroMQ closes a previous listener asynchronously: a restart may wait for its port.
    Status bound = server_->bind();
    for (int i = 0; i < 200 && !bound.ok(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      bound = server_->bind();
    }
    INFO(bound.to_string());
    REQUIRE(bound.ok());
    endpoint_ = server_->bound_endpoint();
    config_.endpoint = endpoint_;  // a restart reuses the port
    thread_ = std::thread([this] { run_status_ = server_->run(); });
  }
  void stop() {
    if (!thread_.joinable()) return;
    server_->request_stop();
    thread_.join();
  }
  // Waits for a server started with exit_when_done.
  void join() {
    if (thread_.joinable()) thread_.join();
  }

  const std::string& endpoint() const { return endpoint_; }
  const std::string& sha() const { return sha_; }
  const std::string& model_bytes() const { return model_bytes_; }
  int64_t campaign_id() const { return campaign_id_; }
  coord::Server& server() { return *server_; }
  const Status& run_status() const { return run_status_; }
  zmq::context_t& context() { return context_; }
  store::Store& store() { return *store_; }  // the serving thread's: only while stopped

  // A second connection to the database, as status/export would open it.
  std::unique_ptr<store::Store> reader(const TempDir& dir) const {
    auto s = store::Store::open(dir.file("fp.db"));
    REQUIRE(s.ok());
    return std::move(s).value();
  }

 private:
  std::unique_ptr<zmq::context_t> own_context_;
  zmq::context_t& context_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<coord::ModelRegistry> registry_;
  std::unique_ptr<coord::Server> server_;
  coord::ServerConfig config_;
  std::thread thread_;
  Status run_status_;
  std::string endpoint_, sha_, model_bytes_;
  int64_t campaign_id_ = 0;
};

// A hand-driven DEALER for protocol-level tests: plain, or CURVE with its own `keys`;
// `rcvhwm` > 0 makes a peer that does not read (nothing piles up on its side);
// `reconnect` false allows one handshake only.
class RawClient {
 public:
  RawClient(zmq::context_t& context, const std::string& endpoint,
            const security::KeyPair* keys = nullptr, const std::string& server_public = "",
            int rcvhwm = 0, bool reconnect = true)
      : socket_(context, zmq::socket_type::dealer) {
    proto::configure_dealer(socket_);
    if (!reconnect) socket_.set(zmq::sockopt::reconnect_ivl, -1);
    if (rcvhwm > 0) {
      socket_.set(zmq::sockopt::rcvhwm, rcvhwm);
      socket_.set(zmq::sockopt::rcvbuf, 4096);
    }
    if (keys) REQUIRE(security::make_curve_client(socket_, *keys, server_public).ok());
    socket_.connect(endpoint);
  }
  void send_bytes(const std::string& bytes) {
    socket_.send(zmq::buffer(bytes), zmq::send_flags::none);
  }
  void send(const proto::Message& m) { send_bytes(proto::encode(m)); }
  void send_multipart(const std::vector<std::string>& parts) {
    for (size_t i = 0; i < parts.size(); ++i) {
      socket_.send(zmq::buffer(parts[i]),
                   i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
  // The next message that is not a Heartbeat, or nothing within `timeout`.
  std::optional<proto::Message> receive(
      std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      zmq::pollitem_t items[] = {{socket_.handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 1, std::chrono::milliseconds(20));
      proto::PeerFrame frame;
      while (proto::recv_from_dealer(socket_, frame, false)) {
        auto m = proto::decode_received(frame, proto::kMaxCoordinatorFrameBytes);
        REQUIRE(m.ok());
        if (proto::type_of(*m) != proto::MessageType::kHeartbeat) return std::move(m).value();
      }
    }
    return std::nullopt;
  }
  // The next message of type T, skipping others (Acks, Errors, ...) until `timeout`.
  template <typename T>
  std::optional<T> next(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      auto m = receive(std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now()));
      if (m && std::holds_alternative<T>(*m)) return std::get<T>(*m);
    }
    return std::nullopt;
  }
  template <typename T>
  T expect(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto m = receive(timeout);
    REQUIRE(m.has_value());
    INFO("got " << proto::type_name(proto::type_of(*m)));
    REQUIRE(std::holds_alternative<T>(*m));
    return std::get<T>(*m);
  }
  zmq::socket_t& socket() { return socket_; }

 private:
  zmq::socket_t socket_;
};

}  // namespace fp::testing
