// The agent's building blocks on their own: the download state machine, the
// outbox of unacknowledged messages, the reconnect backoff and the loop's wake descriptor.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>
#include <zmq.hpp>

#include "agent/backoff.h"
#include "agent/model_download.h"
#include "agent/outbox.h"
#include "net_fixture.h"
#include "util/sha256.h"
#include "util/wake_fd.h"

using namespace fp;
using namespace fp::agent;
using namespace std::chrono_literals;
using fp::testing::TempDir;

namespace {

proto::Chunk chunk_of(const std::string& model, const std::string& sha, uint64_t offset,
                      uint32_t length) {
  return proto::Chunk{sha, offset, model.size(), model.substr(offset, length)};
}

}  // namespace

TEST_CASE("a download keeps `credit` requests in flight and verifies the result", "[agent]") {
  TempDir dir("dl");
  std::string model = fp::testing::random_bytes(10000, 1);
  std::string sha = sha256_hex(model);
  ModelDownload d(sha, model.size(), dir.file("m"), 1024, 3);
  REQUIRE(d.start().ok());
  auto first = d.next_requests();
  REQUIRE(first.size() == 3);
  CHECK(first[0].offset == 0);
  CHECK(first[2].offset == 2048);
  CHECK(d.next_requests().empty());  // no credit left

  REQUIRE(d.on_chunk(chunk_of(model, sha, 0, 1024)).ok());
  auto next = d.next_requests();
  REQUIRE(next.size() == 1);
  CHECK(next[0].offset == 3072);
  // Unasked-for and foreign chunks are ignored; contradicting ones are errors that
  // restart the download (counted: the agent gives up after a few).
  CHECK(d.on_chunk(chunk_of(model, sha, 0, 1024)).ok());
  CHECK(d.on_chunk(proto::Chunk{std::string(64, '0'), 1024, model.size(), "x"}).ok());
  CHECK(d.restarts() == 0);
  Status short_chunk = d.on_chunk(proto::Chunk{sha, 1024, model.size(), "short"});
  CHECK(short_chunk.code() == Status::Code::kProtocol);
  CHECK(d.restarts() == 1);
  auto restarted = d.next_requests();
  REQUIRE(restarted.size() == 3);
  CHECK(restarted[0].offset == 0);
  CHECK(d.on_chunk(proto::Chunk{sha, 0, 5, model.substr(0, 1024)}).code() ==
        Status::Code::kProtocol);  // a total that contradicts the task's
  CHECK(d.restarts() == 2);

  std::vector<proto::ChunkRequest> pending = d.next_requests();
  while (!pending.empty()) {
    auto r = pending.front();
    pending.erase(pending.begin());
    REQUIRE(d.on_chunk(chunk_of(model, sha, r.offset, r.length)).ok());
    for (auto& more : d.next_requests()) pending.push_back(more);
  }
  REQUIRE(d.all_received());
  REQUIRE(d.verify().ok());
  CHECK(d.done());
  CHECK(fp::testing::read_file(d.path()) == model);
  CHECK_FALSE(std::filesystem::exists(dir.file("m/" + sha + ".part")));

  // A second download of the same model finds it verified on disk.
  ModelDownload again(sha, model.size(), dir.file("m"), 1024, 3);
  REQUIRE(again.start().ok());
  CHECK(again.done());
  CHECK(again.next_requests().empty());
}

TEST_CASE("bytes that do not hash to the address are discarded and fetched again", "[agent]") {
  TempDir dir("dl");
  std::string model = fp::testing::random_bytes(3000, 2);
  std::string sha = sha256_hex(model);
  std::string damaged = model;
  damaged[1500] ^= 1;
  ModelDownload d(sha, model.size(), dir.file("m"), 1000, 4);
  REQUIRE(d.start().ok());
  for (auto& r : d.next_requests())
    REQUIRE(d.on_chunk(chunk_of(damaged, sha, r.offset, r.length)).ok());
  REQUIRE(d.all_received());
  Status v = d.verify();
  REQUIRE_FALSE(v.ok());
  CHECK(v.code() == Status::Code::kCorruption);
  CHECK(v.message().find("expected " + sha) != std::string::npos);
  CHECK(d.restarts() == 1);
  CHECK_FALSE(d.done());
  CHECK_FALSE(std::filesystem::exists(d.path()));
  auto again = d.next_requests();  // from the start
  REQUIRE(again.size() == 3);
  CHECK(again[0].offset == 0);
  for (auto& r : again) REQUIRE(d.on_chunk(chunk_of(model, sha, r.offset, r.length)).ok());
  REQUIRE(d.verify().ok());
}

TEST_CASE("lost requests are asked again after reset_in_flight", "[agent]") {
  TempDir dir("dl");
  std::string model = fp::testing::random_bytes(5000, 3);
  std::string sha = sha256_hex(model);
  ModelDownload d(sha, model.size(), dir.file("m"), 1000, 2);
  REQUIRE(d.start().ok());
  auto r = d.next_requests();
  REQUIRE(d.on_chunk(chunk_of(model, sha, r[0].offset, r[0].length)).ok());
  (void)d.next_requests();  // offsets 1000 and 2000 in flight, then the connection drops
  d.reset_in_flight();
  auto again = d.next_requests();
  REQUIRE(again.size() == 2);
  CHECK(again[0].offset == 1000);
  CHECK(d.received_bytes() == 1000);
  // Answers out of order still verify (the file is then hashed whole).
  std::vector<proto::ChunkRequest> rest = again;
  while (!d.all_received()) {
    for (auto it = rest.rbegin(); it != rest.rend(); ++it) {
      REQUIRE(d.on_chunk(chunk_of(model, sha, it->offset, it->length)).ok());
    }
    rest = d.next_requests();
  }
  REQUIRE(d.verify().ok());
  CHECK(fp::testing::read_file(d.path()) == model);
}

TEST_CASE("a download kept in memory verifies, fetches damaged bytes again and writes no file",
          "[agent]") {
  std::string model = fp::testing::random_bytes(5000, 4);
  std::string sha = sha256_hex(model);
  std::string damaged = model;
  damaged[4500] ^= 1;
  ModelDownload d(sha, model.size(), "", 1000, 2);
  REQUIRE(d.in_memory());
  REQUIRE(d.start().ok());
  CHECK_FALSE(d.done());  // nothing is found on disk: memory starts empty
  // First pass: the chunks answered in reverse order, the last one damaged.
  while (!d.all_received()) {
    auto requests = d.next_requests();
    for (auto it = requests.rbegin(); it != requests.rend(); ++it)
      REQUIRE(d.on_chunk(chunk_of(damaged, sha, it->offset, it->length)).ok());
  }
  Status v = d.verify();
  REQUIRE_FALSE(v.ok());
  CHECK(v.code() == Status::Code::kCorruption);
  CHECK(d.restarts() == 1);
  CHECK(d.source().sha256.empty());  // unverified bytes vouch for no model
  // Second pass, in order: verified, and the runner gets the bytes, not a path.
  while (!d.all_received()) {
    for (auto& r : d.next_requests())
      REQUIRE(d.on_chunk(chunk_of(model, sha, r.offset, r.length)).ok());
  }
  REQUIRE(d.verify().ok());
  CHECK(d.done());
  const ModelSource source = d.source();
  REQUIRE(source.in_memory());
  CHECK(*source.bytes == model);
  CHECK(source.sha256 == sha);
  CHECK(source.path.find(sha.substr(0, 12)) != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(sha + ".part"));
  CHECK_FALSE(std::filesystem::exists(sha + ".fpm"));
}

TEST_CASE("the outbox resends in order until acknowledged", "[agent]") {
  Outbox box;
  auto t0 = Outbox::Clock::now();
  box.add("b", "frame-b", t0);
  box.add("a", "frame-a", t0 + 1ms);
  CHECK(box.due(t0 + 500ms, 1000ms).empty());
  auto due = box.due(t0 + 1500ms, 1000ms);
  CHECK(due == std::vector<std::string>{"frame-b", "frame-a"});  // insertion order, not key order
  CHECK(box.due(t0 + 1600ms, 1000ms).empty());                   // just resent
  CHECK(box.ack("b"));
  CHECK_FALSE(box.ack("b"));
  CHECK(box.due(t0 + 1600ms, 1000ms, /*all=*/true) == std::vector<std::string>{"frame-a"});
  CHECK(box.size() == 1);
}

TEST_CASE("the outbox counts the messages it could write to its folder", "[agent]") {
  // An agent giving up said every unacknowledged message "stays in the outbox and is resent
  // on the next start" when a full disk had kept them in memory only.
  TempDir dir("outbox");
  auto t0 = Outbox::Clock::now();
  Outbox kept(dir.file("outbox"));
  kept.add("a", "frame-a", t0);
  CHECK(kept.on_disk() == 1);
  std::ofstream(dir.file("a-file")) << "not a folder";
  Outbox lost(dir.file("a-file/outbox"));  // its folder cannot be made
  lost.add("a", "frame-a", t0);
  lost.add("b", "frame-b", t0);
  CHECK(lost.size() == 2);
  CHECK(lost.on_disk() == 0);
  CHECK(Outbox().on_disk() == 0);  // no folder: memory only
}

TEST_CASE("a wake descriptor wakes a poll from another thread until drained", "[agent]") {
  WakeFd wake;
  zmq::pollitem_t item{nullptr, wake.fd(), ZMQ_POLLIN, 0};
  CHECK(zmq::poll(&item, 1, std::chrono::milliseconds(0)) == 0);
  std::thread waker([&wake] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    wake.notify();
  });
  // Returns when notified, long before its timeout.
  CHECK(zmq::poll(&item, 1, std::chrono::milliseconds(60000)) == 1);
  waker.join();
  wake.notify();  // several notifications, one drain
  wake.drain();
  CHECK(zmq::poll(&item, 1, std::chrono::milliseconds(0)) == 0);
  wake.drain();  // nothing to drain: does not block
}

TEST_CASE("the outbox says when its oldest frame is due again", "[agent]") {
  Outbox box;
  CHECK_FALSE(box.next_due(1000ms).has_value());
  auto t0 = Outbox::Clock::now();
  box.add("a", "frame-a", t0 + 5ms);
  box.add("b", "frame-b", t0);
  CHECK(box.next_due(1000ms) == t0 + 1000ms);
  CHECK(box.due(t0 + 1000ms, 1000ms).size() == 1);  // b resent; a is not due yet
  CHECK(box.next_due(1000ms) == t0 + 1005ms);
  CHECK(box.due(t0 + 1005ms, 1000ms).size() == 1);  // a resent
  CHECK(box.next_due(1000ms) == t0 + 2000ms);       // b's turn again
  box.ack("a");
  box.ack("b");
  CHECK_FALSE(box.next_due(1000ms).has_value());
}

TEST_CASE("backoff doubles up to its cap, with jitter, and resets", "[agent]") {
  Backoff b(100ms, 1000ms);
  std::vector<int64_t> steps = {100, 200, 400, 800, 1000, 1000};
  for (int64_t step : steps) {
    auto d = b.next().count();
    CHECK(d >= step / 2);
    CHECK(d <= step);
  }
  b.reset();
  CHECK(b.next().count() <= 100);
}
