// `lmlab vlm`: the VLM lab's command line. Its lab runner (task "vlm_pope", src/vlm/runner.hpp)
// is registered with every lab's by src/labs/labs.cpp.
//   lmlab vlm scene [--seed S] [--index I] [--ppm out.ppm] [--png out.png] [--set task.key=value ...]
// prints a scene's objects, caption, questions and POPE questions, and writes its image.
// Definitions, experiments and measurements: docs/vlm.md.
// Not for: the logic (src/vlm/).
#include <iostream>

#include "cli/command.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
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

void add_vlm(CLI::App& app) {
  auto* s = app.add_subcommand("vlm", "VLM lab: synthetic scenes, tiny VLM, POPE, VCD (experiments: lmlab lab run experiments/vlm_*.toml)");
  s->require_subcommand(1);
  auto o = std::make_shared<scene_opts>();
  auto* sc = s->add_subcommand("scene", "Print a scene's objects, caption, questions and POPE questions; write its image");
  sc->add_option("--seed", o->seed, "scene stream seed")->capture_default_str();
  sc->add_option("--index", o->index, "scene index in the stream")->capture_default_str();
  sc->add_option("--ppm", o->ppm, "write the image as a PPM file");
  sc->add_option("--png", o->png, "write the image as a PNG file");
  sc->add_option("--set", o->sets, "task.KEY=VALUE: a vlm_pope task parameter (lmlab lab task vlm_pope)");
  sc->callback([o] { print_scene(*o); });
}

}  // namespace

LMLAB_COMMAND("vlm", 16, add_vlm);
