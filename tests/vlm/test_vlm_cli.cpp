// `lmlab vlm scene` end to end (runs the binary): the printed scene matches the header example
// of src/vlm/scene.hpp, the PPM has the canvas's size, and a bad --set is an error with a hint.
// And issue 17's "Done when" as the commands a user types: `lmlab vlm train` writes a tiny
// checkpoint, `lmlab serve` serves it (a child process on 127.0.0.1, any free port), and
// `lmlab probe run --suite pope` against it finishes with every sample answered and POPE's
// metrics per setting in its results file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/fs.hpp"
#include "core/process.hpp"
#include "../run_lmlab.hpp"

namespace fs = std::filesystem;
using namespace lmlab;

namespace {

using lmlab::testing::run_lmlab;

TEST(vlm_cli, scene_prints_the_ground_truth_and_writes_the_image) {
  const fs::path ppm = fs::temp_directory_path() / ("lmlab_vlm_scene_" + std::to_string(::getpid()) + ".ppm");
  const auto r = run_lmlab({"vlm", "scene", "--seed", "1", "--index", "3", "--ppm", ppm.string()});
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_NE(r.output.find("yellow cross (large) at cell (0, 0)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("caption: yellow cross , green triangle ."), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("is the cross left of the triangle ? -> yes"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("pope adversarial: cross(yes) triangle(yes)"), std::string::npos) << r.output;
  const std::string img = read_text_file(ppm);
  const std::string header = "P6\n16 16\n255\n";
  ASSERT_EQ(img.substr(0, header.size()), header);
  EXPECT_EQ(img.size(), header.size() + 16 * 16 * 3);
  fs::remove(ppm);
}

TEST(vlm_cli, a_bad_parameter_is_an_error_with_a_hint) {
  const auto r = run_lmlab({"vlm", "scene", "--set", "task.max_objects=9"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.output.find("error: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("max_objects"), std::string::npos) << r.output;
}

// `lmlab serve DIR` as a child process whose stderr goes to `log`; stopped with SIGTERM (the
// server's own stop signal) when the test is done. posix_spawn directly: core/process.hpp only
// runs a program to its end.
struct serve_child {
  pid_t pid = -1;
  serve_child(const fs::path& checkpoint, const fs::path& log) {
    std::vector<std::string> args = {LMLAB_BINARY, "serve", checkpoint.string(), "--port", "0", "--threads", "1", "-q"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), ::environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  int stop() {
    if (pid <= 0) return -1;
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  ~serve_child() { stop(); }
};

TEST(vlm_cli, probe_run_suite_pope_against_lmlab_serve_of_a_trained_vlm) {
  const fs::path work = fs::temp_directory_path() / ("lmlab_vlm_e2e_" + std::to_string(::getpid()));
  fs::remove_all(work);
  fs::create_directories(work);
  // A tiny run of the quick vlm_pope spec (about a second of CPU): the test checks the
  // commands, not the model's skill.
  const auto tr = run_lmlab({"vlm", "train", "experiments/vlm_pope.toml", "--size", "quick", "--out", (work / "vlm-ck").string(),
                             "--set", "task.clip_steps=10", "--set", "task.align_steps=10", "--set", "task.train_scenes=64",
                             "--set", "task.test_scenes=4", "--set", "task.image_tokens=4", "--set", "train.steps=40",
                             "--set", "train.batch_size=8"});
  ASSERT_EQ(tr.rc, 0) << tr.output;
  ASSERT_TRUE(fs::exists(work / "vlm-ck" / "model.safetensors")) << tr.output;

  serve_child server(work / "vlm-ck", work / "serve.log");
  ASSERT_GT(server.pid, 0);
  std::string url;
  const std::regex at(R"(at (http://127\.0\.0\.1:[0-9]+/v1))");
  for (int i = 0; i < 600 && url.empty(); ++i) {  // up to 60 s on a loaded machine
    std::smatch m;
    const std::string log = fs::exists(work / "serve.log") ? read_text_file(work / "serve.log") : "";
    if (std::regex_search(log, m, at)) url = m[1];
    else std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(url.empty()) << read_text_file(work / "serve.log");

  const auto pr = run_lmlab({"probe", "run", "--model", "lmlab/vlm-ck", "--base-url", url, "--suite", "pope", "--n", "4", "--seed",
                             "7", "--retries", "0", "--store", (work / "lmlab.db").string(), "--out", (work / "out").string()});
  EXPECT_EQ(server.stop(), 0) << read_text_file(work / "serve.log");
  ASSERT_EQ(pr.rc, 0) << pr.output;
  // The results file (lm-evaluation-harness layout): POPE's five numbers per setting, from
  // answered samples only.
  std::vector<fs::path> results;
  for (const auto& e : fs::recursive_directory_iterator(work / "out"))
    if (e.path().filename().string().rfind("results", 0) == 0 && e.path().extension() == ".json") results.push_back(e.path());
  ASSERT_EQ(results.size(), 1u) << pr.output;
  const auto j = nlohmann::json::parse(read_text_file(results[0]));
  const auto& r = j["results"]["pope"];
  for (const std::string setting : {"random", "popular", "adversarial"})
    for (const std::string metric : {"accuracy", "precision", "recall", "f1", "yes_ratio"}) {
      const std::string key = setting + "_" + metric + ",none";
      ASSERT_TRUE(r.contains(key)) << key << " missing in " << r.dump();
      const double v = r[key].get<double>();
      EXPECT_TRUE(v >= 0 && v <= 1) << key << " = " << v;
    }
  std::size_t samples = 0, errors = 0;
  for (const auto& e : fs::recursive_directory_iterator(work / "out"))
    if (e.path().filename().string().rfind("samples", 0) == 0)
      for (std::istringstream in(read_text_file(e.path())); ; ) {
        std::string line;
        if (!std::getline(in, line)) break;
        ++samples;
        errors += nlohmann::json::parse(line).contains("error");
      }
  EXPECT_GT(samples, 12u) << "4 scenes per setting, each with positives and as many negatives";
  EXPECT_EQ(errors, 0u);
  fs::remove_all(work);
}

}  // namespace

