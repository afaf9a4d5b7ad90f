// `lmlab vlm`: the VLM lab's command line. Its lab runner (task "vlm_pope", src/vlm/runner.hpp)
// is registered with every lab's by src/labs/labs.cpp.
//   lmlab vlm scene [--seed S] [--index I] [--ppm out.ppm] [--png out.png] [--set task.key=value ...]
// prints a scene's objects, caption, questions and POPE questions, and writes its image.
//   lmlab vlm train SPEC.toml --out DIR [--size quick] [--run I] [--set section.key=value ...]
// trains run I of an experiment spec (its first by default), saves it as a VLM checkpoint that
// `lmlab serve DIR` serves with image inputs, and prints its QA accuracy and POPE F1.
// Definitions, experiments and measurements: docs/vlm.md.
// Not for: the logic (src/vlm/).
#include <iostream>

#include "cli/command.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "lab/runner.hpp"
#include "lab/spec.hpp"
#include "vlm/checkpoint.hpp"
#include "vlm/image_io.hpp"
#include "vlm/pope.hpp"
#include "vlm/runner.hpp"
#include "vlm/scene.hpp"

namespace {
namespace v = lmlab::vlm;

struct scene_opts {
  std::uint64_t seed = 1, index = 0;
  std::string ppm, png;
  std::vector<std::string> sets;
};

nlohmann::json task_from_sets(const std::vector<std::string>& sets) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& s : sets) {
    const auto eq = s.find('=');
    LMLAB_CHECK_HINT(eq != std::string::npos && s.rfind("task.", 0) == 0, "e.g. --set task.cooccur=0.9",
                     "vlm scene: --set '{}' is not task.KEY=VALUE", s);
    const std::string key = s.substr(5, eq - 5), val = s.substr(eq + 1);
    j[key] = nlohmann::json::accept(val) ? nlohmann::json::parse(val) : nlohmann::json(val);
  }
  return j;
}

void print_scene(const scene_opts& o) {
  const v::vlm_task t = v::read_vlm_task(task_from_sets(o.sets));
  const v::scene_config sc = t.scenes();
  const v::scene s = v::make_scene(sc, o.seed, o.index);
  std::cout << "objects:";
  for (const auto& ob : s.objects)
    std::cout << "\n  " << v::colour_name(ob.colour) << " " << v::class_name(ob.cls) << " (" << (ob.large ? "large" : "small")
              << ") at cell (" << ob.cx << ", " << ob.cy << ")";
  std::cout << "\ncaption: " << v::caption(s) << "\nquestions:";
  lmlab::rng g(o.seed, o.index);
  for (const auto k : {v::qa_kind::exist, v::qa_kind::colour, v::qa_kind::relation}) {
    const v::qa q = v::make_question(s, k, sc, g);
    std::cout << "\n  " << q.question << " -> " << q.answer;
  }
  // POPE negatives ranked by the statistics of the first 2,000 scenes of the stream.
  std::vector<std::vector<v::object>> ann;
  for (std::uint64_t i = 0; i < 2000; ++i) ann.push_back(v::make_scene(sc, o.seed, i).objects);
  const v::object_stats st = v::count_objects(ann, sc.n_classes);
  for (const auto setting : v::pope_settings()) {
    std::cout << "\npope " << v::pope_setting_name(setting) << ":";
    for (const auto& q : v::pope_questions(s.objects, setting, st, sc.n_classes, t.pope_per_image, g))
      std::cout << " " << v::class_name(q.cls) << (q.truth ? "(yes)" : "(no)");
  }
  std::cout << "\n";
  if (!o.ppm.empty()) lmlab::write_file_atomic(o.ppm, v::encode_ppm(s.image));
  if (!o.png.empty()) lmlab::write_file_atomic(o.png, v::encode_png(s.image));
}

struct train_opts {
  std::string spec, out, size;
  std::size_t run = 0;
  std::vector<std::string> sets;
};

void train_checkpoint(const train_opts& o) {
  std::vector<std::string> overrides;
  if (!o.size.empty()) overrides = lmlab::lab::size_overrides(lmlab::read_text_file(o.spec), o.spec, o.size);
  overrides.insert(overrides.end(), o.sets.begin(), o.sets.end());
  const auto spec = lmlab::lab::load_spec(o.spec, overrides);
  LMLAB_CHECK_HINT(o.run < spec.runs.size(), "--run counts from 0", "vlm train: --run {} but {} has {} runs", o.run, o.spec,
                   spec.runs.size());
  const auto& rc = spec.runs[o.run];
  LMLAB_CHECK_HINT(rc.config.contains("task") && rc.config["task"].value("name", "") == "vlm_pope",
                   "use an experiments/vlm_*.toml spec", "vlm train: {} is not a vlm_pope experiment", o.spec);
  lmlab::lab::run_context ctx{rc.config, rc.seed, {}, nullptr, -1, stderr};
  const auto r = v::run_vlm(ctx, o.out);
  std::cout << "saved " << o.out << " (" << r.n_params << " parameters, " << r.steps << " steps, run " << rc.index << " of "
            << spec.name << ", seed " << rc.replicate << "); serve it with: lmlab serve " << o.out << "\n";
}

void add_vlm(CLI::App& app) {
  auto* s = lmlab::cli::add_verb_group(
      app, "vlm", "VLM lab: synthetic scenes, tiny VLM, POPE, VCD (experiments: lmlab lab run experiments/vlm_*.toml)");
  auto o = std::make_shared<scene_opts>();
  auto* sc = s->add_subcommand("scene", "Print a scene's objects, caption, questions and POPE questions; write its image");
  sc->add_option("--seed", o->seed, "scene stream seed")->capture_default_str();
  sc->add_option("--index", o->index, "scene index in the stream")->capture_default_str();
  sc->add_option("--ppm", o->ppm, "write the image as a PPM file");
  sc->add_option("--png", o->png, "write the image as a PNG file");
  sc->add_option("--set", o->sets, "task.KEY=VALUE: a vlm_pope task parameter (lmlab lab task vlm_pope)");
  sc->callback([o] { print_scene(*o); });
  auto t = std::make_shared<train_opts>();
  auto* tr = s->add_subcommand("train", "Train one run of a vlm_* experiment spec and save it as a checkpoint for lmlab serve");
  tr->add_option("SPEC", t->spec, "experiment spec (experiments/vlm_pope.toml)")->required();
  tr->add_option("--out", t->out, "checkpoint folder to write")->required();
  tr->add_option("--size", t->size, "the spec's size (quick, full)");
  tr->add_option("--run", t->run, "which run of the expanded grid (0: the first)")->capture_default_str();
  tr->add_option("--set", t->sets, "section.key=value override, as lmlab lab run --set");
  tr->footer("Example:\n  lmlab vlm train experiments/vlm_pope.toml --size quick --out runs/vlm-pope\n"
             "  lmlab serve runs/vlm-pope --port 8080\n"
             "  lmlab probe run --model lmlab/vlm-pope --base-url http://127.0.0.1:8080/v1 --suite pope");
  tr->callback([t] { train_checkpoint(*t); });
}

}  // namespace

LMLAB_COMMAND("vlm", 16, add_vlm);
