// The campaign policy: what a coordinator decides about tasks, apart from how it talks
// to agents (in the spirit of Flower's Strategy). The Server owns sockets, sessions and
// the store; at three points it asks its policy:
//  - which tasks exist: whether an individual an agent announces joins the running
//    open-enrollment campaigns over its data set (enroll);
//  - who gets which: the next task for an idle agent, from what it holds (next_task);
//  - what happens when a task is taken back (a lost agent, a deadline): whether it is
//    handed out again or failed for good, and why (give_up). A run that reports failure
//    fails its task at once.
// fp-coordinator and fp-sim both serve through a Server, so both use the same policy;
// FirstPendingPolicy is the default of both.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "store/store.h"
#include "util/status.h"

namespace fp::coord {

// An agent as a policy sees it: its id and the (dataset, individual) pairs it holds,
// in the order it announced them.
struct AgentView {
  const std::string& agent_id;
  const std::vector<std::pair<std::string, std::string>>& holdings;
};

class CampaignPolicy {
 public:
  virtual ~CampaignPolicy() = default;

  // True: (dataset, individual), announced by `agent`, gets a task in every running
  // open-enrollment campaign over `dataset` (campaigns with a fixed list are unaffected).
  virtual bool enroll(const AgentView& agent, const std::string& dataset,
                      const std::string& individual) = 0;

  // The task to hand `agent` next, or none; none of the campaigns in `held` (their tasks
  // cannot go out now: the model file is away for a while). The Server then asks
  // give_up() about it and, unless it gives up, assigns it. Called on the Server's thread
  // only.
  virtual Result<std::optional<store::TaskRecord>> next_task(store::Store& store,
                                                             const AgentView& agent,
                                                             const std::set<int64_t>& held) = 0;

  // A reason to fail `task` for good instead of assigning it (it has been tried
  // task.attempts times already), or none to assign it.
  virtual std::optional<std::string> give_up(const store::TaskRecord& task) = 0;
};

// The default: every announced individual is enrolled; an agent gets the oldest pending
// task of its first holding that has one; a task is failed after `max_attempts`
// assignments (each lost agent or passed deadline costs one; a failed run fails it at once).
class FirstPendingPolicy : public CampaignPolicy {
 public:
  explicit FirstPendingPolicy(int64_t max_attempts) : max_attempts_(max_attempts) {}
  bool enroll(const AgentView& agent, const std::string& dataset,
              const std::string& individual) override;
  Result<std::optional<store::TaskRecord>> next_task(store::Store& store, const AgentView& agent,
                                                     const std::set<int64_t>& held) override;
  std::optional<std::string> give_up(const store::TaskRecord& task) override;

 private:
  int64_t max_attempts_;
};

}  // namespace fp::coord
