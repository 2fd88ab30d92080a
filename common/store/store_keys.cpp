// Store: the enrolled CURVE public keys the coordinator's ZAP handler admits.

#include "store/store.h"
#include "util/text.h"

namespace fp::store {

Status Store::enroll_key(const std::string& public_key, const std::string& name, double at) {
  // Names are listed, logged and matched by `revoke --name`: one line of text each.
  if (name.empty() || name.size() > kMaxKeyNameBytes)
    return Status::invalid_argument("a key's name must be 1 to " +
                                    std::to_string(kMaxKeyNameBytes) + " bytes, got " +
                                    std::to_string(name.size()));
  if (std::string problem = text_problem(name); !problem.empty())
    return Status::invalid_argument("a key's name must be one line of text: '" + escape_text(name) +
                                    "' " + problem);
  FP_ASSIGN_OR_RETURN(auto* s, statement(R"sql(
INSERT INTO agent_keys (public_key, name, enrolled_at, revoked_at) VALUES (?1, ?2, ?3, NULL)
ON CONFLICT (public_key) DO UPDATE SET name = excluded.name, enrolled_at = excluded.enrolled_at,
  revoked_at = NULL)sql"));
  s->bind(1, public_key).bind(2, name).bind(3, at);
  return s->run();
}

Result<int64_t> Store::revoke_key(const std::string& key_or_name, double at) {
  FP_ASSIGN_OR_RETURN(auto* s, statement(R"sql(
UPDATE agent_keys SET revoked_at = ?2
WHERE (public_key = ?1 OR name = ?1) AND revoked_at IS NULL)sql"));
  s->bind(1, key_or_name).bind(2, at);
  FP_RETURN_IF_ERROR(s->run());
  return static_cast<int64_t>(db_->changes());
}

Result<std::optional<std::string>> Store::enrolled_key_name(const std::string& public_key) {
  FP_ASSIGN_OR_RETURN(auto* s, statement("SELECT name FROM agent_keys WHERE public_key = ?1 AND "
                                         "revoked_at IS NULL"));
  s->bind(1, public_key);
  FP_ASSIGN_OR_RETURN(bool row, s->step());
  std::optional<std::string> name;
  if (row) name = s->column_text(0);
  s->reset();  // release the read snapshot now: a revocation must be seen at once
  return name;
}

Result<std::vector<AgentKeyRecord>> Store::agent_keys() {
  FP_ASSIGN_OR_RETURN(auto* s, statement("SELECT public_key, name, enrolled_at, revoked_at FROM "
                                         "agent_keys ORDER BY enrolled_at, name"));
  std::vector<AgentKeyRecord> out;
  while (true) {
    FP_ASSIGN_OR_RETURN(bool row, s->step());
    if (!row) break;
    out.push_back(
        {s->column_text(0), s->column_text(1), s->column_double(2), s->column_optional_double(3)});
  }
  return out;
}

Result<std::string> Store::bind_identity(const std::string& agent_id, const std::string& public_key,
                                         double at) {
  FP_ASSIGN_OR_RETURN(auto* bind, statement(R"sql(
INSERT INTO agent_identities (agent_id, public_key, bound_at) VALUES (?1, ?2, ?3)
ON CONFLICT (agent_id) DO NOTHING)sql"));
  bind->bind(1, agent_id).bind(2, public_key).bind(3, at);
  FP_RETURN_IF_ERROR(bind->run());
  FP_ASSIGN_OR_RETURN(auto* s,
                      statement("SELECT public_key FROM agent_identities WHERE agent_id = ?1"));
  s->bind(1, agent_id);
  FP_ASSIGN_OR_RETURN(bool row, s->step());
  std::string key = row ? s->column_text(0) : public_key;
  s->reset();
  return key;
}

Result<std::optional<std::string>> Store::identity_owner(const std::string& agent_id) {
  FP_ASSIGN_OR_RETURN(auto* s,
                      statement("SELECT public_key FROM agent_identities WHERE agent_id = ?1"));
  s->bind(1, agent_id);
  FP_ASSIGN_OR_RETURN(bool row, s->step());
  std::optional<std::string> key;
  if (row) key = s->column_text(0);
  s->reset();
  return key;
}

Status Store::move_identity(const std::string& agent_id, const std::string& from_key,
                            const std::string& to_key, double at) {
  FP_ASSIGN_OR_RETURN(auto* s, statement(R"sql(
UPDATE agent_identities SET public_key = ?3, bound_at = ?4
WHERE agent_id = ?1 AND public_key = ?2)sql"));
  s->bind(1, agent_id).bind(2, from_key).bind(3, to_key).bind(4, at);
  return s->run();
}

Result<int64_t> Store::count_identities(const std::string& public_key) {
  FP_ASSIGN_OR_RETURN(auto* s,
                      statement("SELECT COUNT(*) FROM agent_identities WHERE public_key = ?1"));
  s->bind(1, public_key);
  FP_ASSIGN_OR_RETURN(bool row, s->step());
  const int64_t n = row ? s->column_int(0) : 0;
  s->reset();
  return n;
}

}  // namespace fp::store
