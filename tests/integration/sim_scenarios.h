// Scenario text the simulation tests share.
#pragma once

namespace fp::testing {

// Two variants (fixed targets 30 % and 60 %), appended to a scenario: two campaigns, a task
// in each per individual.
inline constexpr const char* kTwoVariants = R"(
[[fineprune.variants]]
name = "fixed-30"
select_sparsity = false
target_sparsity = 0.3
[[fineprune.variants]]
name = "fixed-60"
select_sparsity = false
target_sparsity = 0.6
)";

}  // namespace fp::testing
