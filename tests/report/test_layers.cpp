// The layer order holds in the sources: a file under src/<layer>/ includes headers only from
// its own layer and the layers before it (CMakeLists.txt LMLAB_LAYERS, docs/DESIGN.md), never
// from a layer above; src/cli/ may include any. Checked on every `#include "<layer>/..."` line.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "core/fs.hpp"

namespace fs = std::filesystem;

namespace {

// The LMLAB_LAYERS list of the top-level CMakeLists.txt, in order.
std::vector<std::string> layer_order() {
  const std::string text = lmlab::read_text_file("CMakeLists.txt");
  std::smatch m;
  static const std::regex re(R"(set\(LMLAB_LAYERS ([a-z_ ]+)\))");
  if (!std::regex_search(text, m, re)) return {};
  std::vector<std::string> out;
  std::istringstream in(m[1].str());
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// "file:line: includes <header> (layer X above Y)" for every upward include in `text`.
std::vector<std::string> upward_includes(const std::vector<std::string>& order, const std::string& layer,
                                         const std::string& file, const std::string& text) {
  static const std::regex inc(R"re(^\s*#\s*include\s*"([a-z_]+)/[^"]+")re");
  const auto rank = [&](const std::string& l) { return std::find(order.begin(), order.end(), l) - order.begin(); };
  std::vector<std::string> out;
  std::istringstream in(text);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    std::smatch m;
    if (!std::regex_search(line, m, inc)) continue;
    const std::string target = m[1].str();
    if (std::find(order.begin(), order.end(), target) == order.end()) continue;  // not a layer (e.g. "generated")
    if (rank(target) > rank(layer))
      out.push_back(file + ":" + std::to_string(n) + ": includes " + target + "/ from " + layer + "/ (" + target +
                    " comes after " + layer + ")");
  }
  return out;
}

}  // namespace

TEST(layers, the_check_catches_an_upward_include) {
  const std::vector<std::string> order = {"core", "store", "report", "probe"};
  EXPECT_EQ(upward_includes(order, "report", "r.cpp", "#include \"probe/x.hpp\"\n").size(), 1u);
  EXPECT_TRUE(upward_includes(order, "probe", "p.cpp", "#include \"report/report.hpp\"\n#include <vector>\n").empty());
  EXPECT_TRUE(upward_includes(order, "core", "c.cpp", "#include \"core/error.hpp\"\n").empty());
}

TEST(layers, no_source_includes_a_header_from_a_higher_layer) {
  const auto order = layer_order();
  ASSERT_GE(order.size(), 10u) << "LMLAB_LAYERS not found in CMakeLists.txt";
  std::size_t files = 0;
  for (const auto& layer : order) {
    if (!fs::is_directory("src/" + layer)) continue;
    for (const auto& f : fs::recursive_directory_iterator("src/" + layer)) {
      const auto ext = f.path().extension();
      if (ext != ".cpp" && ext != ".hpp") continue;
      ++files;
      for (const auto& v : upward_includes(order, layer, f.path().string(), lmlab::read_text_file(f.path())))
        ADD_FAILURE() << v;
    }
  }
  EXPECT_GT(files, 100u);
}

// docs/DESIGN.md states the layer order the build uses: its list (the backquoted one that
// starts with `core,`) names the LMLAB_LAYERS of CMakeLists.txt, in the same order.
TEST(layers, design_md_states_the_build_order) {
  const auto order = layer_order();
  ASSERT_GE(order.size(), 10u) << "LMLAB_LAYERS not found in CMakeLists.txt";
  const std::string design = lmlab::read_text_file("docs/DESIGN.md");
  const auto at = design.find("`core,");
  ASSERT_NE(at, std::string::npos) << "docs/DESIGN.md: no layer list starting with `core,";
  const auto end = design.find('`', at + 1);
  ASSERT_NE(end, std::string::npos);
  std::vector<std::string> stated;
  static const std::regex word("[a-z_]+");
  const std::string list = design.substr(at + 1, end - at - 1);
  for (auto it = std::sregex_iterator(list.begin(), list.end(), word); it != std::sregex_iterator(); ++it)
    stated.push_back(it->str());
  EXPECT_EQ(stated, order) << "docs/DESIGN.md's layer order differs from CMakeLists.txt LMLAB_LAYERS";
}
