// Test helper shared by the sweep and shard suites: a spec named `name` over the copy task,
// a d_model axis `widths` (a comma list), n_heads 2, one training step, and `seeds` as
// written in TOML (a count or a list). Not for: library code.
#pragma once

#include <string>

#include "lab/spec.hpp"

namespace lmlab::testing {

inline lab::experiment_spec copy_grid(const std::string& name, const std::string& widths, const std::string& seeds) {
  return lab::parse_spec("name = \"" + name + "\"\nseeds = " + seeds + "\n[model]\nd_model = \"" + widths +
                             "\"\nn_heads = 2\n[task]\nname = \"copy\"\n[train]\nsteps = 1\n",
                         name + ".toml");
}

}  // namespace lmlab::testing
