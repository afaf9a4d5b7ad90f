// Every lab's tasks and runners, registered in one call (idempotent), so that an experiment
// spec may name any of them: the binary calls it at start (src/cli/labs.cpp), and so do the
// tests that load the repository's experiments/*.toml (tests/register_labs.cpp). A new lab
// adds its `register_...()` call to labs.cpp.
// Not for: the runners themselves (each lab's layer; tms_runner.cpp for interp's toy models).
#pragma once

namespace lmlab::labs {

void register_all_labs();

// interp's toy models of superposition: the "tms" task and its runner (tms_runner.cpp).
void register_tms();
// interp's runners that train a model: induction-head formation (interp_runners.cpp).
void register_interp();
// interp's SAEs on a character LM's activations: the "sae_lm" task (sae_lm_runner.cpp).
void register_sae_lm();
// align_overopt_lm.toml: the alignment lab's environment (b) on a corpus (src/labs/align_lm.cpp)
void register_align_lm();

}  // namespace lmlab::labs
