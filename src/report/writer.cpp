// Writing the report folder: pinned assets checked and copied, CSVs beside figures, and the
// whole folder built in a temp dir next to the target, then swapped in with one
// renameat2(RENAME_EXCHANGE) so a reader sees the old report or the new one, never a mix.
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "report/report.hpp"

namespace lmlab::report {

namespace fs = std::filesystem;

namespace {
// Pins: the same versions and file hashes as scripts/fetch-report-assets.sh (which also pins
// the npm tarballs' sha256). Order = load order: vega-lite needs vega, vega-embed needs both.
constexpr asset kAssets[] = {
    {"vega.min.js", "vega", "5.33.1", "463f3db6a40b20e9747b4ed38f37ed0add508838f9141b1cf8366784b07b30c8"},
    {"vega-lite.min.js", "vega-lite", "5.23.0", "58c27358e26f2d319cf62f45bc17a4c8362f08645001df2ec8d341eee4097c7f"},
    {"vega-embed.min.js", "vega-embed", "6.29.0", "12d02acfbe3ec59ef9a37dd4822a2e04e2961b5bbb671bbe661d2221715b99da"},
};
constexpr const char* kFetchHint = "run scripts/fetch-report-assets.sh (npm pack of the pinned versions into the cache)";
constexpr const char* kMarker = ".lmlab-report";
}  // namespace

std::span<const asset> bundled_assets() { return kAssets; }

fs::path default_assets_dir() { return cache_dir() / "report-assets"; }

void check_assets(const fs::path& dir) {
  for (const auto& a : kAssets) {
    const fs::path p = dir / a.file;
    LMLAB_CHECK_HINT(fs::exists(p), kFetchHint, "report: chart library file {} ({}@{}) is missing", p.string(),
                     a.package, a.version);
    const std::string got = sha256_file(p);
    LMLAB_CHECK_HINT(got == a.sha256, kFetchHint, "report: {} has sha256 {}, expected {} ({}@{})", p.string(), got,
                     a.sha256, a.package, a.version);
  }
}

namespace {

void write_folder(const document& doc, const fs::path& dir, const fs::path& assets_dir) {
  write_file_atomic(dir / "index.html", render_index_html(doc));
  for (const auto& s : doc.sections) {
    for (const auto& f : s.figures) write_file_atomic(dir / ("fig-" + f.id + ".csv"), f.data.to_string(table_format::csv));
    for (const auto& t : s.tables) write_file_atomic(dir / ("table-" + t.id + ".csv"), t.data.to_string(table_format::csv));
  }
  std::string notice =
      "Chart libraries bundled with this report so that it opens without a network.\n"
      "Fetched from the npm registry by scripts/fetch-report-assets.sh; sha256 checked by lmlab.\n\n";
  for (const auto& a : kAssets) {
    const auto bytes = read_binary_file(assets_dir / a.file);
    write_file_atomic(dir / "assets" / a.file, bytes);
    notice += fmt::format("{}  {}@{}  BSD-3-Clause  sha256 {}\n", a.file, a.package, a.version, a.sha256);
    const fs::path lic = assets_dir / (std::string(a.package) + ".LICENSE");
    if (fs::exists(lic)) write_file_atomic(dir / "assets" / lic.filename(), read_binary_file(lic));
  }
  write_file_atomic(dir / "assets" / "NOTICE.txt", notice);
  write_file_atomic(dir / kMarker, std::string_view("lmlab report folder: replaced as a whole by `lmlab report`\n"));
}

}  // namespace

write_result write_report(const document& doc, const fs::path& out_dir, const write_options& opt) {
  validate(doc);
  const fs::path assets_dir = opt.assets_dir.empty() ? default_assets_dir() : opt.assets_dir;
  check_assets(assets_dir);

  const fs::path out = fs::absolute(out_dir).lexically_normal();
  const fs::path target = out.has_filename() ? out : out.parent_path();  // "dir/" -> "dir"
  const fs::path parent = target.parent_path();
  std::error_code ec;
  fs::create_directories(parent, ec);
  LMLAB_CHECK(!ec, "report: cannot create {}: {}", parent.string(), ec.message());
  const bool replacing = fs::exists(target);
  if (replacing) {
    LMLAB_CHECK_HINT(fs::is_directory(target) && fs::exists(target / kMarker),
                     "choose a new output folder, or remove that one yourself",
                     "report: {} exists and is not an lmlab report (no {} marker); refusing to replace it",
                     target.string(), kMarker);
  }

  std::string tmpl = (parent / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  LMLAB_CHECK(::mkdtemp(tmpl.data()) != nullptr, "report: cannot create a temp folder in {}: {}", parent.string(),
              std::strerror(errno));
  const fs::path tmp(tmpl);
  try {
    fs::permissions(tmp, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                             fs::perms::others_read | fs::perms::others_exec);
    write_folder(doc, tmp, assets_dir);
    if (replacing) {
      // Atomic swap of two directories (Linux >= 3.15); the old report ends up at tmp.
      if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) != 0) {
        const int err = errno;
        LMLAB_CHECK(err == EINVAL || err == ENOSYS, "report: cannot swap {} into {}: {}", tmp.string(),
                    target.string(), std::strerror(err));
        // The file system cannot exchange: move the old one aside first (a brief gap, no mix).
        const fs::path old = tmp.string() + ".old";
        fs::rename(target, old);
        fs::rename(tmp, target);
        fs::remove_all(old);
      } else {
        fs::remove_all(tmp);
      }
    } else {
      fs::rename(tmp, target);
    }
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }

  write_result r;
  r.index = target / "index.html";
  for (const auto& s : doc.sections) {
    r.figures += s.figures.size();
    r.tables += s.tables.size();
  }
  return r;
}

}  // namespace lmlab::report
