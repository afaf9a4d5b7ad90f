// Every lab's tasks and runners: see labs.hpp.
#include "labs/labs.hpp"

#include "align/runners.hpp"
#include "datalab/runners.hpp"
#include "knowledge/runners.hpp"
#include "labs/lm_length.hpp"
#include "vlm/real_clip.hpp"
#include "vlm/runner.hpp"

namespace lmlab::labs {

void register_all_labs() {
  tasks::register_once([] {
    register_tms();
    register_interp();
    vlm::register_lab();
    align::register_align();
    knowledge::register_knowledge();
    datalab::register_datalab();
    register_lm_length();  // posenc_lm.toml: LM perplexity against evaluation length
    vlm::register_clip_real();  // vlm_clip_*.toml: CLIP on Fashion-MNIST and Noto emoji (src/vlm/real_clip.hpp)
    register_sae_lm();     // sae_lm.toml: SAEs on a character LM, with the CE-loss score
    register_align_lm();   // align_overopt_lm.toml: environment (b) of the alignment lab, on Brown
  });
}

}  // namespace lmlab::labs
