// The planner's corrections of the notes as report sections (see notes_section.hpp).
#include "plan/notes_section.hpp"

#include <cmath>

#include "core/error.hpp"
#include "plan/chinchilla.hpp"
#include "plan/vlm_tokens.hpp"
#include "report/sources.hpp"
#ifdef LMLAB_PLAN_HAS_STORE
#include "plan/fit_section.hpp"
#endif

namespace lmlab::plan {

namespace {

constexpr const char* kNotes = "shared/seed/open-problems.ko.md";

std::string sci(double v) { return fmt::format("{:.3g}", v); }

// A section answering question `question_id` of data/notes/questions.json, quoting the notes.
report::section notes_section(std::string id, std::string title, std::string question_id, std::string question,
                              std::string quote, std::string where) {
  report::section s;
  s.id = std::move(id);
  s.title = std::move(title);
  s.question_id = std::move(question_id);
  s.question = std::move(question);
  s.quote = std::move(quote);
  s.quote_source = fmt::format("{}, {}", kNotes, where);
  return s;
}

}  // namespace

report::section chinchilla_notes_section() {
  // The notes' rule, as written at lines 54-55.
  const rule_of_thumb rule = parse_rule("N_opt = C^0.49 / 1.7, D_opt = C^0.51 × 7.7");
  const allocation a2 = find_allocation("approach2"), epoch = find_allocation("epoch");
  table t({"C (FLOPs)", "notes N", "notes D", "6ND/C", "Approach 2 N_opt", "Approach 2 D_opt", "Epoch N_opt", "Epoch D_opt",
           "notes N / Approach 2 N", "notes D / Approach 2 D"});
  double spend = 0;
  for (double c : {1e21, 1e23, 1e25}) {
    const auto [n, d] = rule.at(c);
    const optimum o2 = optimum_for_compute(a2, c), oe = optimum_for_compute(epoch, c);
    spend = 6 * n * d / c;
    t.add_row({sci(c), sci(n), sci(d), fmt::format("{:.2f}", spend), sci(o2.n), sci(o2.d), sci(oe.n), sci(oe.d),
               fmt::format("{:.2f}", n / o2.n), fmt::format("{:.2f}", d / o2.d)});
  }
  const optimum llama = optimum_for_params(a2, 8.03e9);
  report::section s = notes_section(
      "plan-chinchilla", "Planner: the notes' Chinchilla rule", "chinchilla",
      "Does the notes' compute-optimal rule N_opt = C^0.49 / 1.7, D_opt = C^0.51 × 7.7 spend the budget C it is given "
      "(C = 6·N·D), and how does it compare with Hoffmann et al.'s fits?",
      "N_opt = C^0.49 / 1.7 … D_opt = C^0.51 × 7.7 … LLaMA-3-8B: 15T tokens (Chinchilla 대비 10×+ 토큰)",
      "lines 54, 55, 58 (1 스케일링과 효율)");
  s.answer = fmt::format("The notes' rule spends {:.1f}× its budget: 6·N·D/C = {:.2f} at every C (the exponents sum to 1). "
                         "LLaMA-3-8B's 15T tokens are {:.0f}× Approach 2's compute-optimal {} tokens for 8.03B parameters.",
                         spend, spend, 15e12 / llama.d, sci(llama.d));
  s.outcome = report::verdict{std::abs(spend - 1) <= 0.05 ? "agrees" : "differs",
                              fmt::format("the notes' rule gives 6·N·D/C = {:.2f}, the FLOP identity needs 1", spend)};
  s.comparison = "Computed live by the planner (lmlab plan chinchilla --check-rule, src/plan/chinchilla.cpp). Sources: "
                 "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models (arXiv:2203.15556), Table 2 "
                 "(Approach 2 exponents) and eq. (4); Besiroglu et al. 2024, Chinchilla Scaling: A replication attempt "
                 "(arXiv:2404.10102) for the Epoch fit; LLaMA-3-8B: Meta 2024 model card (15T tokens). " +
                 s.outcome->sentence();
  s.tables.push_back({"plan-chinchilla", "The notes' rule against the compute-optimal fits", std::move(t)});
  return s;
}

report::section vlm_tokens_notes_section() {
  table t({"image", "front end", "LLM tokens", "tiles", "how", "source"});
  const vlm_result vit = vit_tokens(1024, 1024, 14, false, 1.0);
  const vlm_result llava = llava_anyres_tokens(1024, 1024);
  const vlm_result intern = internvl_tokens(1024, 1024);
  const vlm_result qwen = qwen2vl_tokens(1024, 1024, 1);
  const vlm_result intern_big = internvl_tokens(4032, 4032);
  t.add_row({"1024×1024", "ViT, 14 px patches, native resolution", vit.tokens, vit.tiles, vit.detail, "floor(H/14)·floor(W/14)"});
  t.add_row({"1024×1024", "LLaVA-1.6 anyres", llava.tokens, llava.tiles, llava.detail,
             "haotian-liu/LLaVA mm_utils.py select_best_resolution, llava_arch.py unpad_image"});
  t.add_row({"1024×1024", "InternVL 1.5/2 (max_num 12)", intern.tokens, intern.tiles, intern.detail,
             "OpenGVLab InternVL dynamic_preprocess"});
  t.add_row({"1024×1024", "Qwen2-VL-7B-Instruct", qwen.tokens, qwen.tiles, qwen.detail,
             "transformers image_processing_qwen2_vl.py smart_resize"});
  t.add_row({"4032×4032", "InternVL 1.5/2 (max_num 12)", intern_big.tokens, intern_big.tiles, intern_big.detail,
             "OpenGVLab InternVL dynamic_preprocess"});
  const bool any_vlm_5329 = llava.tokens == 5329 || intern.tokens == 5329 || qwen.tokens == 5329;
  report::section s = notes_section(
      "plan-vlm-tokens", "Planner: image tokens of the VLM front ends", "vlm_tokens",
      "How many LLM tokens does a 1024×1024 image cost in the VLMs the notes cite, and how many tiles does InternVL use "
      "at 4032×4032?",
      "1024×1024 이미지, 14×14 패치: 73×73 = 5329 토큰! … 448×448 기본, 최대 4032×4032 (81 타일)",
      "lines 530, 541 (6 VLM 특화 오픈 문제)");
  s.answer = fmt::format("5329 = 73×73 holds only for a plain ViT at native resolution (ours: {}); the cited VLMs spend "
                         "{} (LLaVA-1.6), {} (InternVL) and {} (Qwen2-VL) tokens; InternVL's default max_num = 12 gives "
                         "{} tiles at 4032×4032, not 81.",
                         vit.tokens, llava.tokens, intern.tokens, qwen.tokens, intern_big.tiles);
  s.outcome = report::verdict{any_vlm_5329 && intern_big.tiles == 81 ? "agrees" : "differs",
                              fmt::format("no cited VLM front end gives 5329 tokens for 1024×1024; InternVL: {} tiles, "
                                          "the notes say 81", intern_big.tiles)};
  s.comparison = "Computed live by the planner (lmlab plan vlm-tokens, src/plan/vlm_tokens.cpp), each front end by its "
                 "reference preprocessing code's integer rules (sources in the table; InternVL 1.5 paper, arXiv:2404.16821, "
                 "for max_num). " + s.outcome->sentence();
  s.tables.push_back({"plan-vlm-tokens", "Image tokens per front end", std::move(t)});
  return s;
}

void register_report_source() {
  for (const auto& s : report::section_sources())
    if (s.name == "plan") return;
  report::register_section_source({"plan",
                                   [](store::results_store&) {
                                     return std::vector<report::section>{chinchilla_notes_section(), vlm_tokens_notes_section()};
                                   },
                                   nullptr, report::placement::front});
#ifdef LMLAB_PLAN_HAS_STORE
  // Scaling laws fitted to the store's own sweeps (fit_section.hpp), after the lab sections.
  report::register_section_source({"plan-fit", [](store::results_store& db) { return scaling_fit_sections(db); }, nullptr,
                                   report::placement::back});
#endif
}

}  // namespace lmlab::plan
