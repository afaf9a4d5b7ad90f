#!/usr/bin/env bash
# Fetches the chart library the HTML report bundles (Vega, Vega-Lite, vega-embed) from the npm
# registry with `npm pack`, checks each tarball's sha256 against the pins below, and unpacks
# the minified browser builds into the cache, outside git:
#   ${LMLAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lmlab}/report-assets/{vega,vega-lite,vega-embed}.min.js
# The report writer (src/report/) copies them into every report's assets/ folder after
# checking their own sha256 (pinned again in src/report/assets.cpp), so a report opens from disk
# with no network. Idempotent: files already present with the right sha256 are kept.
# Not for: anything the lmlab binary downloads at run time (it never does).
# Usage: scripts/fetch-report-assets.sh [--check]   (--check: verify only, exit 1 if missing)
set -euo pipefail

# name version tarball-sha256 minified-file minified-sha256
pins=(
  "vega 5.33.1 1b8504b6731c5311be3269c4d84ca996a5cc293bc772283293ede20c490e16c3 vega.min.js 463f3db6a40b20e9747b4ed38f37ed0add508838f9141b1cf8366784b07b30c8"
  "vega-lite 5.23.0 e4cbfdd8f6f1abe381c59cd558fd6a559c12b1496bfdf2e0c3295263a40fe4da vega-lite.min.js 58c27358e26f2d319cf62f45bc17a4c8362f08645001df2ec8d341eee4097c7f"
  "vega-embed 6.29.0 ecf1ee709c2bac9e0a4ead6908114b05b62c71493e10a8a4308109bb070f8eb1 vega-embed.min.js 12d02acfbe3ec59ef9a37dd4822a2e04e2961b5bbb671bbe661d2221715b99da"
)

cache="${LMLAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lmlab}"
dest="$cache/report-assets"
tarballs="$cache/npm"
check_only=0
[[ "${1:-}" == "--check" ]] && check_only=1

have() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]; }

missing=0
for pin in "${pins[@]}"; do
  read -r name version tar_sha file file_sha <<<"$pin"
  if have "$dest/$file" "$file_sha"; then continue; fi
  if ((check_only)); then echo "missing or wrong sha256: $dest/$file ($name@$version)" >&2; missing=1; continue; fi
  command -v npm >/dev/null || { echo "error: fetch-report-assets: npm not found" >&2; echo "hint: run scripts/deps.sh (installs nodejs npm)" >&2; exit 1; }
  mkdir -p "$tarballs" "$dest"
  tgz="$tarballs/$name-$version.tgz"
  if ! have "$tgz" "$tar_sha"; then
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null)
    got=$(sha256sum "$tmp/$name-$version.tgz" | cut -d' ' -f1)
    if [[ "$got" != "$tar_sha" ]]; then
      echo "error: fetch-report-assets: $name-$version.tgz has sha256 $got, expected $tar_sha" >&2
      echo "hint: the registry served different bytes for a pinned version; do not update the pin without reviewing the package" >&2
      rm -rf "$tmp"; exit 1
    fi
    mv "$tmp/$name-$version.tgz" "$tgz"
    rm -rf "$tmp"
  fi
  tmp=$(mktemp -d)
  tar -xzf "$tgz" -C "$tmp" "package/build/$file"
  tar -xzf "$tgz" -C "$tmp" package/LICENSE 2>/dev/null && cp "$tmp/package/LICENSE" "$dest/$name.LICENSE" || true
  if ! have "$tmp/package/build/$file" "$file_sha"; then
    echo "error: fetch-report-assets: $file in $tgz does not match its pinned sha256" >&2; rm -rf "$tmp"; exit 1
  fi
  mv "$tmp/package/build/$file" "$dest/$file.tmp" && mv "$dest/$file.tmp" "$dest/$file"
  rm -rf "$tmp"
  echo "fetched $name@$version -> $dest/$file"
done
if ((missing)); then echo "hint: run scripts/fetch-report-assets.sh" >&2; exit 1; fi
echo "report assets ok: $dest"
