// `lmlab vlm scene` end to end (runs the binary): the printed scene matches the header example
// of src/vlm/scene.hpp, the PPM has the canvas's size, and a bad --set is an error with a hint.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
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

}  // namespace
