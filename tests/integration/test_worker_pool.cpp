// The simulation host's compute pool (simulation/sim_runner.h): agents' tasks compute on
// the pool's own long-lived threads, at most `slots` at once, in arrival order; a queued
// task is dropped when its agent stops, and what a job throws reaches its caller.
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "simulation/sim_runner.h"
#include "util/thread_priority.h"

namespace {

std::string current_thread_name() {
  char buffer[32] = {};
  pthread_getname_np(pthread_self(), buffer, sizeof buffer);
  return buffer;
}

}  // namespace

TEST_CASE("pool jobs run on the pool's own threads, at most slots at once", "[worker_pool]") {
  fp::sim::WorkerPool pool(2);
  std::atomic<int> running{0}, most{0}, ran{0};
  std::atomic<bool> release{false};
  std::mutex mutex;
  std::set<std::thread::id> job_threads, caller_threads;
  std::set<std::string> names;
  const std::atomic<bool> never{false};
  std::vector<std::thread> callers;
  for (int i = 0; i < 8; ++i) {
    callers.emplace_back([&] {
      {
        std::lock_guard<std::mutex> lock(mutex);
        caller_threads.insert(std::this_thread::get_id());
      }
      const bool done = pool.run(
          [&] {
            const int now = ++running;
            int seen = most;
            while (now > seen && !most.compare_exchange_weak(seen, now)) {
            }
            {
              std::lock_guard<std::mutex> lock(mutex);
              job_threads.insert(std::this_thread::get_id());
              names.insert(current_thread_name());
            }
            while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            --running;
            ++ran;
          },
          never);
      CHECK(done);
    });
  }
  // Two jobs hold the two slots until released; the six others must wait their turn.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (running < 2 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(running == 2);
  CHECK(pool.busy() == 2);
  release = true;
  for (auto& t : callers) t.join();
  CHECK(ran == 8);
  CHECK(most == 2);  // eight callers, two slots: never more
  CHECK(job_threads.size() == 2);
  for (const auto& id : job_threads) CHECK(caller_threads.count(id) == 0);
  CHECK(names == std::set<std::string>{"fp-compute"});
  CHECK(pool.busy() == 0);
}

TEST_CASE("a queued pool job is dropped when its caller cancels", "[worker_pool]") {
  fp::sim::WorkerPool pool(1);
  std::atomic<bool> release{false}, started{false}, never{false}, cancel{false};
  std::atomic<bool> second_ran{false};
  std::thread first([&] {
    CHECK(pool.run(
        [&] {
          started = true;
          while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        },
        never));
  });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(pool.busy() == 1);
  std::atomic<bool> second_returned{false};
  bool second_result = true;
  std::thread second([&] {
    second_result = pool.run([&] { second_ran = true; }, cancel);
    second_returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK_FALSE(second_returned);  // waiting for the one slot
  const auto cancelled_at = std::chrono::steady_clock::now();
  cancel = true;
  second.join();
  CHECK(std::chrono::steady_clock::now() - cancelled_at < std::chrono::seconds(1));
  CHECK_FALSE(second_result);
  release = true;
  first.join();
  CHECK_FALSE(second_ran);  // dropped, not run once the slot came free
  // The pool still takes work.
  bool ran = false;
  CHECK(pool.run([&] { ran = true; }, never));
  CHECK(ran);
}

TEST_CASE("what a pool job throws is thrown to its caller", "[worker_pool]") {
  fp::sim::WorkerPool pool(1);
  const std::atomic<bool> never{false};
  CHECK_THROWS_WITH(pool.run([] { throw std::runtime_error("out of memory in layer 3"); }, never),
                    "out of memory in layer 3");
  bool ran = false;
  CHECK(pool.run([&] { ran = true; }, never));
  CHECK(ran);
  CHECK(pool.busy() == 0);
}

TEST_CASE("pool threads compute at the lower priority they were given", "[worker_pool]") {
  const std::atomic<bool> never{false};
  const int mine = fp::thread_nice();
  // At nice 17 or more the pool's +3 is capped at 19 and could not be told from +0.
  if (mine > 16) WARN("this test runs at nice " << mine << ": a lower priority cannot show");
  for (int nice : {0, 3}) {
    INFO("nice " << nice);
    fp::sim::WorkerPool pool(1, nice);
    int seen = -100;
    REQUIRE(pool.run([&] { seen = fp::thread_nice(); }, never));
    CHECK(seen == std::min(19, mine + nice));
  }
  CHECK(fp::thread_nice() == mine);  // the caller's own is untouched
  CHECK_FALSE(fp::lower_thread_priority(-1).ok());
}
