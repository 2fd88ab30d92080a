// What fp-agent checks at its start, so that a wrong option stops it at once with the
// option's value named, not task by task or at the coordinator's first refusal. (The
// individuals and the data folder have theirs in local_data.h and folder_data.h.)
#pragma once

#include <string>
#include <vector>

#include "util/status.h"

namespace fp::agent {

// The coordinator's rule for agent ids (protocol/validate.h): 1-128 bytes of
// [A-Za-z0-9-_.:@/=+].
Status check_agent_id(const std::string& id);

// The coordinator's rule for what an agent announces (protocol/validate.h): each
// "<dataset>/<individual>" one line of text within the Hello's length. A name it would
// refuse is named here, before the agent connects again and again to be refused.
Status check_announced(const std::vector<std::string>& datasets);

// The work folder (model cache, outbox, personalized models): made when missing; it must
// then be a folder this process can write to, and so must those of its parts that exist
// (an outbox that is a file lost every unacknowledged report at a restart, each with a
// warning only).
Status prepare_work_dir(const std::string& dir);
// The same answer without making anything (fp-agent --check): a missing folder passes when
// the nearest existing one above it lets this process make it.
Status check_work_dir(const std::string& dir);

// This device's agent id when none is given: the one kept in <dir>/agent.id, or a new one
// ("device-" and 16 random hex digits, nothing of the host: the coordinator stores it;
// `*made` set) for the caller to keep_agent_id() once its start checks passed. Kept, the
// device stays one agent and one individual ("device=<id>") for its coordinator across
// restarts, and two agents of one host with their own work folders stay two.
Result<std::string> stored_or_new_agent_id(const std::string& dir, bool* made);
Status keep_agent_id(const std::string& dir, const std::string& id);

// A labels file given with --labels: it must be a readable file. Its lines are read and
// checked against the model's classes when a task runs (read_labels_csv).
Status check_labels_file(const std::string& path);

}  // namespace fp::agent
