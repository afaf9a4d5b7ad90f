// MFU (PaLM Appendix B), collectives (alpha-beta ring), pipeline bubbles (Narayanan et al. 2021),
// layout search and the Chrome trace.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "plan/hardware.hpp"
#include "plan/memory.hpp"
#include "plan/parallel.hpp"
#include "plan/tables.hpp"

using namespace lmlab::plan;

TEST(parallel, palm_540b_mfu) {
  // ref: Chowdhery et al. 2022, Table 3 / Appendix B: 540.35B params, L 118, H 48, Q 256, T 2048,
  // 238.3K tokens/s on 6144 TPU v4 (275 TFLOP/s) -> 46.2% MFU.
  const double fpt = model_flops_per_token(540.35e9, 118, 48 * 256, 2048);
  EXPECT_NEAR(mfu(238.3e3, fpt, 6144, 275e12), 0.462, 0.001);
  EXPECT_THROW(mfu(0, fpt, 1, 1), lmlab::error);
}

TEST(parallel, ring_collectives) {
  EXPECT_DOUBLE_EQ(allreduce_time(1e9, 8, 0, 1e11), 2.0 * 7 / 8 * 1e9 / 1e11);
  EXPECT_DOUBLE_EQ(allreduce_time(1e9, 4, 1e-5, 1e10), 6 * 1e-5 + 1.5 * 0.1);
  EXPECT_DOUBLE_EQ(allgather_time(1e9, 4, 0, 1e10), 0.075);
  EXPECT_DOUBLE_EQ(alltoall_time(8e8, 8, 0, 1e10), 0.07);
  EXPECT_EQ(allreduce_time(1e9, 1, 1, 1), 0.0);
}

TEST(parallel, bubble_fraction_megatron) {
  // ref: Narayanan et al. 2021, Section 2.2: (p-1)/m, interleaved (p-1)/(v·m).
  EXPECT_DOUBLE_EQ(bubble_fraction(schedule::one_f_one_b, 8, 32, 1), 7.0 / 32);
  EXPECT_DOUBLE_EQ(bubble_fraction(schedule::gpipe, 4, 4, 1), 0.75);
  EXPECT_DOUBLE_EQ(bubble_fraction(schedule::interleaved, 8, 32, 4), 7.0 / 128);
  // The simulated 1F1B / GPipe step takes (m + p - 1)(tf + tb): bubble = (p-1)/m of ideal.
  for (auto s : {schedule::one_f_one_b, schedule::gpipe})
    for (int p : {1, 2, 4, 8})
      for (int m : {1, 4, 16}) {
        const double t = simulate_pipeline(p, m, 1.0, 2.0, 0.0, s);
        EXPECT_NEAR(t, (m + p - 1) * 3.0, 1e-9) << p << " " << m;
        EXPECT_NEAR(t / (m * 3.0) - 1.0, bubble_fraction(s, p, m, 1), 1e-12);
      }
}

TEST(parallel, step_estimate_and_search) {
  const auto m = load_model("llama-3-70b");
  const auto hw = find_hardware("h100");
  step_options o;
  layout l{8, 4, 2, 1, 1, 1, 1};
  const auto e = estimate_step(m, hw, l, o);
  ASSERT_TRUE(e.why_not.empty() || e.fits) << e.why_not;
  EXPECT_EQ(e.devices, 64);
  EXPECT_EQ(e.microbatches, 256);
  // With no communication, MFU = efficiency / (1 + bubble).
  EXPECT_LT(e.mfu, o.efficiency);
  EXPECT_NEAR(e.bubble / (e.step_time - e.bubble - e.pp_comm - e.dp_comm), 3.0 / 256, 1e-9);
  const auto found = search_layouts(m, hw, 64, o, 1);
  ASSERT_FALSE(found.empty());
  for (std::size_t i = 1; i < found.size(); ++i) EXPECT_LE(found[i - 1].step_time, found[i].step_time);
  for (const auto& f : found) EXPECT_LE(f.memory, hw.memory_bytes);
  step_options tight = o;
  tight.mem_cap = 1e9;
  EXPECT_TRUE(search_layouts(m, hw, 8, tight, 1).empty());
}

TEST(parallel, chrome_trace_is_valid_json) {
  const auto m = load_model("llama-3-8b");
  step_options o;
  o.global_batch = 16;
  layout l{1, 4, 2, 1, 1, 1, 1};
  const auto e = estimate_step(m, find_hardware("h100"), l, o);
  const auto j = nlohmann::json::parse(chrome_trace(e, o));
  int fwd = 0, bwd = 0;
  for (const auto& ev : j["traceEvents"]) {
    if (ev.value("cat", "") == "forward") ++fwd;
    if (ev.value("cat", "") == "backward") ++bwd;
  }
  EXPECT_EQ(fwd, 4 * 8);
  EXPECT_EQ(bwd, 4 * 8);
}

TEST(parallel, unknown_hardware_lists_known) {
  try {
    find_hardware("h800");
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "--hardware: unknown hardware 'h800'");
    EXPECT_EQ(e.hint(), "known hardware: a100, h100, h200, b200, mi300x, tpu-v5p, this-cpu");
  }
  EXPECT_DOUBLE_EQ(find_hardware("h200").memory_bytes, 141e9);
}

TEST(parallel, gpipe_keeps_all_microbatches_1f1b_at_most_pp) {
  // ref: Narayanan et al. 2021, Section 2.2.1: GPipe stashes the activations of all m
  // micro-batches; 1F1B keeps at most p in flight. Interleaving adds (p-1)/(p v) (Korthikanti
  // et al. 2022, Section 4.1). Both schedules used to report the same memory.
  const auto m = load_model("llama-3-70b");
  const auto hw = find_hardware("h100");
  step_options o;
  o.global_batch = 32;
  const layout l{8, 4, 2, 1, 1, 1, 1};  // 16 micro-batches per step, pp = 4
  o.sched = schedule::one_f_one_b;
  const auto f1b = estimate_step(m, hw, l, o);
  o.sched = schedule::gpipe;
  const auto gp = estimate_step(m, hw, l, o);
  layout lv = l;
  lv.virtual_stages = 2;
  o.sched = schedule::interleaved;
  const auto il = estimate_step(m, hw, lv, o);
  ASSERT_EQ(f1b.microbatches, 16);
  training_memory_options mo;
  mo.seq = o.seq, mo.tp = 8, mo.pp = 4, mo.dp = 2, mo.zero_stage = o.zero_stage;
  const double act_1f1b = estimate_training_memory(m, mo).activations;  // in_flight = pp
  EXPECT_NEAR(gp.memory - f1b.memory, act_1f1b * (16.0 / 4 - 1), 1e-6 * gp.memory);
  EXPECT_NEAR(il.memory - f1b.memory, act_1f1b * 3.0 / 8, 1e-6 * il.memory);
}
