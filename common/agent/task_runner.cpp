#include "agent/task_runner.h"

#include <exception>
#include <thread>

#include "util/thread_name.h"

namespace fp::agent {

void TaskRunner::start(const proto::TaskAssignment& task, const std::string& model_path,
                       const std::atomic<bool>& cancel, Done done) {
  std::thread([this, task, model_path, &cancel, done = std::move(done)] {
    set_thread_name("fp-task");
    done(catching([&] { return run(task, model_path, cancel); }));
  }).detach();
}

TaskRunner::Outcome TaskRunner::catching(const std::function<Outcome()>& compute) {
  try {
    return compute();
  } catch (const std::exception& e) {
    return Status::internal(std::string("task runner threw: ") + e.what());
  }
}

}  // namespace fp::agent
