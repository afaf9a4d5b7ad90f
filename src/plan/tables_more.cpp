// Verb tables for vlm-tokens, mfu, parallel, inference, tco and fit: see tables.hpp.
#include <cmath>
#include <sstream>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/sweep.hpp"
#include "plan/fit.hpp"
#include "plan/grid.hpp"
#include "plan/hardware.hpp"
#include "plan/inference.hpp"
#include "plan/parallel.hpp"
#include "plan/tables.hpp"
#ifdef LMLAB_PLAN_HAS_STORE
#include "plan/fit_store.hpp"
#endif
#include "plan/vlm_tokens.hpp"

namespace lmlab::plan {

namespace {

std::pair<std::int64_t, std::int64_t> parse_image(const std::string& s) {
  const auto x = s.find_first_of("xX");
  LMLAB_CHECK_HINT(x != std::string::npos, "write sizes as WIDTHxHEIGHT, e.g. 1920x1080",
                   "--image: '{}' is not WIDTHxHEIGHT", s);
  char* end = nullptr;
  const long long w = std::strtoll(s.c_str(), &end, 10);
  LMLAB_CHECK_HINT(end == s.c_str() + x, "write sizes as WIDTHxHEIGHT, e.g. 1920x1080", "--image: '{}' has a bad width", s);
  const long long h = std::strtoll(s.c_str() + x + 1, &end, 10);
  LMLAB_CHECK_HINT(*end == '\0', "write sizes as WIDTHxHEIGHT, e.g. 1920x1080", "--image: '{}' has a bad height", s);
  LMLAB_CHECK_HINT(w > 0 && h > 0, "both sides must be positive", "--image: '{}' must have positive sides", s);
  return {w, h};
}

std::int64_t as_int(double v, const char* what) {
  LMLAB_CHECK_HINT(v == std::floor(v), "this flag takes whole numbers", "{}: {} is not an integer", what, v);
  LMLAB_CHECK_HINT(std::abs(v) <= kMaxCount, "this flag takes whole numbers up to 2^53", "{}: {} is too large", what, v);
  return static_cast<std::int64_t>(v);
}

}  // namespace

table vlm_tokens_table(const vlm_args& a) {
  const auto images = split_list(a.images);
  LMLAB_CHECK_HINT(!images.empty(), "e.g. --image 1920x1080,1024x1024", "--image: no image size given");
  if (a.positions) {
    const auto [w, h] = parse_image(images.front());
    qwen2vl_options o;
    o.min_pixels = as_int(single_count(a.min_pixels, "--min-pixels"), "--min-pixels");
    o.max_pixels = as_int(single_count(a.max_pixels, "--max-pixels"), "--max-pixels");
    const auto frames = as_int(single_count(a.frames, "--frames"), "--frames");
    const auto r = qwen2vl_tokens(w, h, frames, o);
    std::int64_t next = 0;
    const auto text_before = as_int(single_count(a.text_before, "--text-before", 0), "--text-before");
    const auto ids = qwen2vl_mrope_ids(r.tiles, r.grid_h, r.grid_w, o.merge, text_before, &next);
    table t({"token", "t", "h", "w"});
    for (std::size_t i = 0; i < ids.size(); ++i)
      t.add_row({cell(static_cast<std::int64_t>(text_before + i)), cell(ids[i][0]), cell(ids[i][1]), cell(ids[i][2])});
    t.add_row({"next_text", cell(next), cell(next), cell(next)});
    return t;
  }
  table t({"image", "scheme", "frames", "setting", "tiles", "grid", "resized", "tokens", "detail"});
  const auto frames_axis = sweep_axis(a.frames, "--frames");
  const auto tmerge = as_int(single_count(a.temporal_merge, "--temporal-merge"), "--temporal-merge");
  for (const auto& img : images) {
    const auto [w, h] = parse_image(img);
    for (const auto& scheme : split_list(a.schemes))
      for (double fd : frames_axis) {
        const auto frames = as_int(fd, "--frames");
        // Non-Qwen schemes encode each frame separately; temporal merge groups frames.
        const std::int64_t groups = (frames + tmerge - 1) / tmerge;
        auto add = [&](const std::string& setting, const vlm_result& r, std::int64_t mult) {
          t.add_row({img, scheme, cell(frames), setting, cell(r.tiles * mult), fmt::format("{}x{}", r.grid_w, r.grid_h),
                     fmt::format("{}x{}", r.resized_w, r.resized_h), cell(r.tokens * mult), r.detail});
        };
        if (scheme == "llava-1.6" || scheme == "llava") {
          add("anyres 336", llava_anyres_tokens(w, h), groups);
        } else if (scheme == "internvl") {
          for (double mt : sweep_axis(a.max_tiles, "--max-tiles")) {
            internvl_options o;
            o.max_num = as_int(mt, "--max-tiles");
            o.min_num = as_int(single_count(a.min_tiles, "--min-tiles"), "--min-tiles");
            o.thumbnail = !a.no_thumbnail;
            add(fmt::format("max_num={}", o.max_num), internvl_tokens(w, h, o), groups);
          }
        } else if (scheme == "qwen2-vl") {
          for (const auto& p : cartesian({sweep_axis(a.min_pixels, "--min-pixels"), sweep_axis(a.max_pixels, "--max-pixels")})) {
            qwen2vl_options o;
            o.min_pixels = as_int(p[0], "--min-pixels"), o.max_pixels = as_int(p[1], "--max-pixels");
            add(fmt::format("pixels {}..{}", o.min_pixels, o.max_pixels), qwen2vl_tokens(w, h, frames, o), 1);
          }
        } else if (scheme == "vit") {
          for (const auto& p : cartesian({sweep_axis(a.patch, "--patch"), sweep_axis(a.shuffle, "--shuffle")}))
            add(fmt::format("patch={} shuffle={}", p[0], p[1]), vit_tokens(w, h, as_int(p[0], "--patch"), a.cls, p[1]),
                groups);
        } else {
          throw error(fmt::format("--scheme: unknown scheme '{}'", scheme), "known schemes: llava-1.6, internvl, qwen2-vl, vit");
        }
      }
  }
  return t;
}

table mfu_table(const mfu_args& a) {
  LMLAB_CHECK_HINT(!a.tokens_per_sec.empty(), "e.g. --tokens-per-sec 3200", "plan mfu: --tokens-per-sec is required");
  double n = 0, layers = 0, d_attn = 0;
  std::string name = "custom";
  if (!a.model.empty()) {
    const auto m = load_model(a.model);
    n = m.params_active();
    layers = static_cast<double>(m.count(mixer::attention) + m.count(mixer::sliding) + m.count(mixer::mla));
    d_attn = static_cast<double>(m.n_heads * m.head_dim);
    name = m.name;
  } else {
    LMLAB_CHECK_HINT(!a.params.empty() && !a.layers.empty() && !a.d_attn.empty(),
                     "pass --model NAME, or --params, --layers and --d-attn (heads × head_dim)",
                     "plan mfu: no model given");
    n = single_value(a.params, "--params");
    layers = single_count(a.layers, "--layers", 0);
    d_attn = single_count(a.d_attn, "--d-attn");
  }
  const hardware hw = find_hardware(a.hardware);
  table t({"model", "hardware", "devices", "seq", "tokens_per_sec", "flops_per_token", "achieved_flops", "mfu",
           "mfu_vs_theoretical"});
  for (const auto& p : cartesian({count_axis(a.seq, "--seq", 1, kMaxCount, true), sweep_axis(a.tokens_per_sec, "--tokens-per-sec"),
                                  count_axis(a.devices, "--devices", 1, kMaxDegree)})) {
    const double fpt = model_flops_per_token(n, layers, d_attn, p[0]);
    const double u = mfu(p[1], fpt, p[2], hw.peak_flops);
    t.add_row({name, hw.name, cell(static_cast<std::int64_t>(p[2])), cell(static_cast<std::int64_t>(p[0])), cell(p[1]),
               cell(fpt), cell(p[1] * fpt), cell(u), cell(mfu(p[1], fpt, p[2], hw.theoretical_flops))});
  }
  return t;
}

table parallel_table(const parallel_args& a) {
  const auto m = load_model(a.model);
  const hardware hw = find_hardware(a.hardware);
  step_options o;
  o.sched = parse_schedule(a.schedule);
  o.recompute_full = a.recompute_full;
  o.global_batch = single_count(a.global_batch, "--global-batch");
  o.seq = single_count(a.seq, "--seq");
  o.efficiency = single_value(a.efficiency, "--efficiency");
  o.dp_overlap = single_value(a.dp_overlap, "--dp-overlap", false);
  o.zero_stage = static_cast<int>(single_count(a.zero, "--zero", 0, 3));
  if (!a.mem_cap.empty()) o.mem_cap = single_value(a.mem_cap, "--mem-cap") * 1073741824.0;  // GiB
  LMLAB_CHECK_HINT(o.efficiency <= 1, "a fraction of peak such as 0.6", "--efficiency: {} must be <= 1", o.efficiency);
  table t({"devices", "tp", "pp", "dp", "ep", "cp", "micro_batch", "microbatches", "compute_s", "tp_comm_s", "cp_comm_s",
           "ep_comm_s", "pp_comm_s", "dp_comm_s", "bubble_s", "step_s", "tokens_per_sec", "mfu", "mem_GiB", "fits"});
  std::vector<step_estimate> rows;
  const bool search = a.tp.empty() && a.pp.empty() && a.dp.empty();
  for (const auto& p : cartesian({count_axis(a.devices, "--devices", 1, kMaxDegree),
                                  count_axis(a.micro_batch, "--micro-batch", 1, kMaxDegree)})) {
    const int devices = static_cast<int>(p[0]), mb = static_cast<int>(p[1]);
    if (search) {
      auto found = search_layouts(m, hw, devices, o, mb);
      const auto top = static_cast<std::size_t>(single_count(a.top, "--top"));
      LMLAB_CHECK_HINT(!found.empty(), "raise --devices, lower --micro-batch or --seq, or set --mem-cap",
                       "plan parallel: no layout of {} devices fits {} in memory", devices, m.name);
      if (found.size() > top) found.resize(top);
      rows.insert(rows.end(), found.begin(), found.end());
    } else {
      for (const auto& q : cartesian({count_axis(a.tp.empty() ? "1" : a.tp, "--tp", 1, kMaxDegree),
                                      count_axis(a.pp.empty() ? "1" : a.pp, "--pp", 1, kMaxDegree),
                                      count_axis(a.ep, "--ep", 1, kMaxDegree), count_axis(a.cp, "--cp", 1, kMaxDegree),
                                      count_axis(a.virtual_stages, "--virtual-stages", 1, kMaxDegree)})) {
        layout l;
        l.tp = static_cast<int>(q[0]), l.pp = static_cast<int>(q[1]), l.ep = static_cast<int>(q[2]), l.cp = static_cast<int>(q[3]);
        l.virtual_stages = static_cast<int>(q[4]), l.micro_batch = mb;
        const int mp = l.tp * l.pp * l.cp;
        if (!a.dp.empty()) {
          l.dp = static_cast<int>(single_count(a.dp, "--dp", 1, kMaxDegree));
        } else {
          LMLAB_CHECK_HINT(devices % mp == 0, "devices must be a multiple of tp·pp·cp",
                           "--devices: {} is not divisible by tp·pp·cp = {}", devices, mp);
          l.dp = devices / mp;
        }
        auto e = estimate_step(m, hw, l, o);
        LMLAB_CHECK_HINT(e.microbatches > 0, "adjust the layout or --global-batch", "plan parallel: layout invalid: {}", e.why_not);
        rows.push_back(e);
      }
    }
  }
  for (const auto& e : rows)
    t.add_row({cell(e.devices), cell(e.lay.tp), cell(e.lay.pp), cell(e.lay.dp), cell(e.lay.ep), cell(e.lay.cp),
               cell(e.lay.micro_batch), cell(e.microbatches), cell(e.compute), cell(e.tp_comm), cell(e.cp_comm),
               cell(e.ep_comm), cell(e.pp_comm), cell(e.dp_comm), cell(e.bubble), cell(e.step_time), cell(e.tokens_per_sec),
               cell(e.mfu), cell(e.memory / 1073741824.0), cell(e.fits)});
  if (!a.trace.empty() && !rows.empty()) write_file_atomic(a.trace, chrome_trace(rows.front(), o));
  return t;
}

namespace {

double target_loss(const loss_fit& f, const std::string& loss, const std::string& compute, const std::string& params,
                   const std::string& tokens) {
  const int given = !loss.empty() + !compute.empty() + (!params.empty() || !tokens.empty());
  LMLAB_CHECK_HINT(given == 1, "e.g. --loss 2.1, or --compute 1e23 (its Chinchilla-optimal loss), or --params 7e9 --tokens 2e12",
                   "give exactly one target: --loss, --compute, or --params with --tokens");
  if (!loss.empty()) return single_value(loss, "--loss");
  if (!compute.empty()) return closed_form_optimum(f, single_value(compute, "--compute")).loss;
  LMLAB_CHECK_HINT(!params.empty() && !tokens.empty(), "the loss of a model needs both --params and --tokens",
                   "--params and --tokens go together");
  return f.loss(single_value(params, "--params"), single_value(tokens, "--tokens"));
}

loss_fit loss_fit_named(const std::string& name) {
  const auto m = find_allocation(name);
  LMLAB_CHECK_HINT(m.fit.has_value(), "use a fit with a loss model: hoffmann or epoch",
                   "--fit: '{}' has no loss model (it is a power-law allocation)", name);
  return *m.fit;
}

}  // namespace

table inference_table(const inference_args& a) {
  const loss_fit f = loss_fit_named(a.fit);
  const double loss = target_loss(f, a.loss, a.compute, a.params, a.tokens);
  table t({"fit", "loss", "inference_tokens", "N_opt", "D_train", "tokens_per_param", "total_flops", "chinchilla_N",
           "chinchilla_D", "chinchilla_total_flops", "saving"});
  for (double dinf : sweep_axis(a.inference_tokens, "--inference-tokens", false)) {
    LMLAB_CHECK_HINT(dinf >= 0, "a token count such as 1e12", "--inference-tokens: {} must be >= 0", dinf);
    const auto opt = inference_optimal(f, loss, dinf);
    const auto chin = chinchilla_at_loss(f, loss, dinf);
    t.add_row({f.name, cell(loss), cell(dinf), cell(opt.n), cell(opt.d_train), cell(opt.d_train / opt.n),
               cell(opt.total_flops), cell(chin.n), cell(chin.d_train), cell(chin.total_flops),
               cell(1.0 - opt.total_flops / chin.total_flops)});
  }
  return t;
}

table tco_table(const tco_args& a) {
  const loss_fit f = loss_fit_named(a.fit);
  const double loss = target_loss(f, a.loss, a.compute, a.params, a.tokens);
  const hardware hw = find_hardware(a.hardware);
  table t({"requests_per_day", "tokens_per_request", "days", "inference_tokens", "plan", "N", "D_train", "train_hours",
           "inference_hours", "train_usd", "inference_usd", "total_usd"});
  for (const auto& p : cartesian({sweep_axis(a.requests_per_day, "--requests-per-day"),
                                  sweep_axis(a.tokens_per_request, "--tokens-per-request"), sweep_axis(a.days, "--days"),
                                  sweep_axis(a.mfu, "--mfu"), sweep_axis(a.utilization, "--utilization")})) {
    cost_options co;
    co.peak_flops = hw.peak_flops;
    co.price_per_hour = a.price.empty() ? hw.price_per_hour : single_value(a.price, "--price");
    co.train_mfu = p[3], co.serve_utilization = p[4];
    const double dinf = p[0] * p[1] * p[2];
    const auto opt = inference_optimal(f, loss, dinf), chin = chinchilla_at_loss(f, loss, dinf);
    for (const auto& [label, plan] : {std::pair{"chinchilla", chin}, std::pair{"inference-optimal", opt}}) {
      const auto c = cost_of(plan, co);
      t.add_row({cell(p[0]), cell(p[1]), cell(p[2]), cell(dinf), label, cell(plan.n), cell(plan.d_train), cell(c.train_hours),
                 cell(c.inference_hours), cell(c.train_dollars), cell(c.inference_dollars), cell(c.total_dollars)});
    }
  }
  return t;
}

namespace {
std::vector<observation> fit_observations(const fit_args& a) {
  const bool csv = !a.csv.empty(), store = !a.store.empty() || !a.experiment.empty();
  if (csv == store)
    throw usage_error("plan fit: give either --csv FILE or --store DB --experiment NAME",
                      "--csv: columns N,D,loss; --store: the lab's finished runs of one experiment");
  if (csv) return read_observations(a.csv);
#ifdef LMLAB_PLAN_HAS_STORE
  LMLAB_CHECK_HINT(!a.experiment.empty(), "e.g. --store lmlab.db --experiment scaling_brown", "plan fit: --store needs --experiment");
  return observations_from_store(a.store.empty() ? "lmlab.db" : a.store, a.experiment, a.loss, single_value(a.tail, "--tail")).obs;
#else
  throw lmlab::error("plan fit: this build has no results store layer", "use --csv, or build with the store layer");
#endif
}
}  // namespace

table fit_table(const fit_args& a) {
  const auto obs = fit_observations(a);
  fit_options o;
  o.bootstrap = static_cast<int>(single_count(a.bootstrap, "--bootstrap", 0, kMaxDegree));
  o.delta = single_value(a.delta, "--delta");
  o.seed = static_cast<std::uint64_t>(single_count(a.seed, "--seed", 0));
  o.coarse_grid = a.coarse;
  return fit_constants_table(fit_scaling_law(obs, o), obs.size());
}

table fit_constants_table(const fit_result& r, std::size_t runs) {
  // Beside each constant, Chinchilla's (Hoffmann et al. 2022, eq. (10)) for comparison.
  const loss_fit h = find_allocation("hoffmann").fit.value();
  table t({"constant", "value", "ci_lo", "ci_hi", "chinchilla"});
  auto row = [&](const char* k, double v, const fit_result::interval& ci, double ref) {
    if (r.bootstrap_ok > 0)
      t.add_row({k, cell(v), cell(ci.lo), cell(ci.hi), cell(ref)});
    else
      t.add_row({k, cell(v), "-", "-", cell(ref)});
  };
  row("E", r.fit.E, r.E, h.E);
  row("A", r.fit.A, r.A, h.A);
  row("B", r.fit.B, r.B, h.B);
  row("alpha", r.fit.alpha, r.alpha, h.alpha);
  row("beta", r.fit.beta, r.beta, h.beta);
  row("a = beta/(alpha+beta)", r.fit.a(), r.a, h.a());
  row("b = alpha/(alpha+beta)", r.fit.b(), r.b, h.b());
  t.add_row({"huber_objective", cell(r.objective), "-", "-", "-"});
  t.add_row({"runs", cell(static_cast<std::int64_t>(runs)), "-", "-", "-"});
  t.add_row({"bootstrap_resamples", cell(r.bootstrap_ok), "-", "-", "-"});
  return t;
}

}  // namespace lmlab::plan
