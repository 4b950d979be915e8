#!/usr/bin/env bash
# Fetch the pinned npm packages (scripts/deps.lock) into the git-ignored .deps/ folder,
# verify each tarball's sha512 integrity, and extract what the C++ build needs:
#
#   .deps/npm/*.tgz                  downloaded tarballs (verified)
#   .deps/duckdb/include/duckdb.h    from duckdb
#   .deps/duckdb/lib/libduckdb.so    from @duckdb/node-bindings-linux-x64
#   .deps/llama/lib/                 from @node-llama-cpp/linux-x64 (libllama, libggml*, CPU backends)
#   .deps/llama/src/                 llama.cpp source, cloned from node-llama-cpp's gitRelease.bundle
#   .deps/llama/include/             llama.h, llama-cpp.h, ggml/include/*.h from that source
#   .deps/llama-cuda/lib/            from @node-llama-cpp/linux-x64-cuda (only with --cuda)
#   .deps/node_modules/openai/       OpenAI's official Node client (the tests drive ut serve with it)
#   .deps/env.sh                     exports UT_DEPS_DIR and LD_LIBRARY_PATH additions
#
# Idempotent: .deps/.stamp-NAME-VERSION (holding the integrity) marks a finished package.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/fetch-deps.sh [--force] [--cuda] [--help]

Fetches the npm packages pinned in scripts/deps.lock into .deps/ (git-ignored),
checks each tarball against its committed sha512 integrity and extracts it.

  --force   re-download and re-extract every package, even if up to date
  --cuda    also fetch @node-llama-cpp/linux-x64-cuda (large) into .deps/llama-cuda/lib
  --help    show this help

Environment: UT_DEPS_DIR overrides the destination (default: <repo>/.deps).
EOF
}

FORCE=0
CUDA=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --force) FORCE=1 ;;
    --cuda) CUDA=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "[deps] unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
LOCK="$SCRIPT_DIR/deps.lock"
DEPS="${UT_DEPS_DIR:-$ROOT/.deps}"
NPM_DIR="$DEPS/npm"
TMP_DIR="$DEPS/.tmp"

log() { echo "[deps] $*"; }
die() { echo "[deps] ERROR: $*" >&2; exit 1; }

[[ -f "$LOCK" ]] || die "missing $LOCK"
command -v tar >/dev/null || die "tar not found"

# "@scope/name" -> "scope-name" (the same mangling npm pack uses for file names).
sanitize() { local n="${1#@}"; echo "${n//\//-}"; }

human_size() { numfmt --to=iec --suffix=B "$(stat -c %s "$1")" 2>/dev/null || stat -c '%s bytes' "$1"; }

sri_sha512() {  # prints sha512-<base64> of file $1
  local b64
  if command -v openssl >/dev/null; then
    b64="$(openssl dgst -sha512 -binary <"$1" | base64 -w0)"
  elif command -v node >/dev/null; then
    b64="$(node -e 'const c=require("crypto"),fs=require("fs");process.stdout.write(c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "$1")"
  else
    die "need openssl or node to compute sha512"
  fi
  echo "sha512-$b64"
}

# Output file whose presence (together with the stamp) means "installed".
marker_for() {
  case "$1" in
    duckdb) echo "$DEPS/duckdb/include/duckdb.h" ;;
    @duckdb/node-bindings-linux-x64) echo "$DEPS/duckdb/lib/libduckdb.so" ;;
    @node-llama-cpp/linux-x64) echo "$DEPS/llama/lib/libllama.so" ;;
    node-llama-cpp) echo "$DEPS/llama/include/llama.h" ;;
    @node-llama-cpp/linux-x64-cuda) echo "$DEPS/llama-cuda/lib/libggml-cuda.so" ;;
    openai) echo "$DEPS/node_modules/openai/package.json" ;;
    *) die "no install rule for npm package '$1' (add one to scripts/fetch-deps.sh)" ;;
  esac
}

# Download NAME@VERSION into .deps/npm and verify it; prints nothing, sets TARBALL.
fetch_tarball() {
  local name="$1" version="$2" integrity="$3"
  TARBALL="$NPM_DIR/$(sanitize "$name")-$version.tgz"
  if [[ -f "$TARBALL" && $FORCE -eq 0 ]]; then
    if [[ "$(sri_sha512 "$TARBALL")" == "$integrity" ]]; then
      log "  reusing $(basename "$TARBALL") ($(human_size "$TARBALL"))"
      return 0
    fi
    log "  cached $(basename "$TARBALL") does not match deps.lock, downloading again"
  fi
  rm -f "$TARBALL"
  command -v npm >/dev/null || die "npm not found (run scripts/setup.sh)"
  log "  npm pack $name@$version"
  (cd "$NPM_DIR" && npm pack "$name@$version" --loglevel=error >/dev/null) \
    || die "npm pack $name@$version failed"
  [[ -f "$TARBALL" ]] || die "npm pack did not produce $TARBALL"
  local actual
  actual="$(sri_sha512 "$TARBALL")"
  if [[ "$actual" != "$integrity" ]]; then
    rm -f "$TARBALL"
    die "integrity mismatch for $name@$version
    expected (deps.lock): $integrity
    actual (download):    $actual
  the bad tarball was deleted; refusing to continue"
  fi
  log "  downloaded $(basename "$TARBALL") ($(human_size "$TARBALL")), integrity ok"
}

# Extract members (paths inside the tarball) of $TARBALL into a fresh $TMP_DIR/<key>.
extract() {
  local key="$1"; shift
  local dir="$TMP_DIR/$key"
  rm -rf "$dir"; mkdir -p "$dir"
  tar -xzf "$TARBALL" -C "$dir" "$@"
  EXTRACTED="$dir"
}

# Copy every *.so* (files and symlinks, as-is) from $1 into fresh dir $2, then add
# unversioned dev links: libllama.so -> libllama.v0.5.0.so (the SONAME stays versioned).
install_libs() {
  local src="$1" dst="$2" f base stem
  rm -rf "$dst"; mkdir -p "$dst"
  shopt -s nullglob
  local libs=("$src"/*.so "$src"/*.so.*)
  shopt -u nullglob
  [[ ${#libs[@]} -gt 0 ]] || die "no shared libraries found in $src"
  cp -a "${libs[@]}" "$dst/"
  # also libllama.cuda.v0.5.0.so -> libllama.so (the CUDA package's naming)
  for f in "$dst"/lib*.v*.so; do
    [[ -e "$f" ]] || continue
    base="$(basename "$f")"
    if [[ "$base" =~ ^(lib[^.]+)(\.[A-Za-z0-9_]+)?\.v[0-9][0-9.]*\.so$ ]]; then
      stem="${BASH_REMATCH[1]}"
      [[ -e "$dst/$stem.so" ]] || ln -s "$base" "$dst/$stem.so"
    fi
  done
  log "  libs in ${dst#"$ROOT"/}:"
  (cd "$dst" && for f in *; do
     if [[ -L "$f" ]]; then echo "[deps]    $f -> $(readlink "$f")"
     else echo "[deps]    $f ($(human_size "$f"))"; fi
   done)
}

install_pkg() {
  local name="$1" key; key="$(sanitize "$name")"
  case "$name" in
    duckdb)
      local member="package/src/duckdb/src/include/duckdb.h"
      if ! tar -tzf "$TARBALL" "$member" >/dev/null 2>&1; then
        member="$(tar -tzf "$TARBALL" | grep -E '/include/duckdb\.h$' | head -n1 || true)"
        [[ -n "$member" ]] || die "duckdb.h not found in $TARBALL"
        log "  note: duckdb.h found at $member"
      fi
      extract "$key" "$member"
      install -D -m 0644 "$EXTRACTED/$member" "$DEPS/duckdb/include/duckdb.h"
      log "  -> duckdb/include/duckdb.h"
      ;;
    @duckdb/node-bindings-linux-x64)
      extract "$key" package/libduckdb.so
      install -D -m 0755 "$EXTRACTED/package/libduckdb.so" "$DEPS/duckdb/lib/libduckdb.so"
      log "  -> duckdb/lib/libduckdb.so ($(human_size "$DEPS/duckdb/lib/libduckdb.so"))"
      ;;
    @node-llama-cpp/linux-x64)
      extract "$key" package/bins/linux-x64
      install_libs "$EXTRACTED/package/bins/linux-x64" "$DEPS/llama/lib"
      if [[ -f "$EXTRACTED/package/bins/linux-x64/_nlcBuildMetadata.json" ]]; then
        cp "$EXTRACTED/package/bins/linux-x64/_nlcBuildMetadata.json" "$DEPS/llama/build-metadata.json"
      fi
      ;;
    @node-llama-cpp/linux-x64-cuda)
      extract "$key" package/bins
      local libdir
      libdir="$(dirname "$(find "$EXTRACTED/package/bins" -name 'libggml-cuda.so*' | head -n1)")"
      [[ -d "$libdir" && "$libdir" != "." ]] || die "libggml-cuda.so not found in $TARBALL"
      install_libs "$libdir" "$DEPS/llama-cuda/lib"
      ;;
    node-llama-cpp)
      extract "$key" package/llama/gitRelease.bundle package/llama/llama.cpp.info.json
      local src="$DEPS/llama/src" tag commit
      command -v git >/dev/null || die "git not found (run scripts/setup.sh)"
      rm -rf "$src"
      log "  git clone gitRelease.bundle -> ${src#"$ROOT"/}"
      git -c advice.detachedHead=false clone -q "$EXTRACTED/package/llama/gitRelease.bundle" "$src"
      git -C "$src" remote remove origin   # the bundle is a temporary file
      commit="$(git -C "$src" rev-parse HEAD)"
      tag="$(git -C "$src" tag --points-at HEAD | head -n1)"
      if [[ -z "$tag" ]]; then
        # The bundle carries a single squashed commit and no tags; node-llama-cpp records
        # the llama.cpp release it was made from in llama/llama.cpp.info.json.
        tag="$(sed -n 's/.*"tag"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' \
               "$EXTRACTED/package/llama/llama.cpp.info.json" 2>/dev/null | head -n1)"
        if [[ -n "$tag" ]]; then git -C "$src" tag "$tag" HEAD; fi
      fi
      printf 'tag=%s\ncommit=%s\n' "${tag:-unknown}" "$commit" >"$DEPS/llama/SOURCE"
      log "  llama.cpp source: tag ${tag:-unknown}, commit $commit"
      local inc="$DEPS/llama/include"
      rm -rf "$inc"; mkdir -p "$inc"
      cp "$src/include/llama.h" "$inc/"
      if [[ -f "$src/include/llama-cpp.h" ]]; then cp "$src/include/llama-cpp.h" "$inc/"; fi
      cp "$src"/ggml/include/*.h "$inc/"
      log "  -> llama/include: $(cd "$inc" && echo *.h)"
      ;;
    openai)
      extract "$key" package
      rm -rf "$DEPS/node_modules/openai"
      mkdir -p "$DEPS/node_modules"
      mv "$EXTRACTED/package" "$DEPS/node_modules/openai"
      log "  -> node_modules/openai (OpenAI's Node client, for the tests)"
      ;;
    *) die "no install rule for npm package '$name'" ;;
  esac
  rm -rf "${TMP_DIR:?}/$key"
}

write_env() {
  local env="$DEPS/env.sh" content
  content="$(cat <<EOF
# Generated by scripts/fetch-deps.sh. Source it to run project binaries by hand:
#   . .deps/env.sh
export UT_DEPS_DIR="$DEPS"
case ":\${LD_LIBRARY_PATH:-}:" in
  *":\$UT_DEPS_DIR/llama/lib:"*) ;;
  *) export LD_LIBRARY_PATH="\$UT_DEPS_DIR/duckdb/lib:\$UT_DEPS_DIR/llama/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" ;;
esac
EOF
)"
  if [[ ! -f "$env" || "$(cat "$env")" != "$content" ]]; then
    printf '%s\n' "$content" >"$env"
    log "wrote ${env#"$ROOT"/}"
  fi
}

mkdir -p "$NPM_DIR"
start=$SECONDS
n_done=0
while read -r name version integrity extra; do
  [[ -z "${name:-}" || "$name" == \#* ]] && continue
  [[ -n "${integrity:-}" && -z "${extra:-}" ]] || die "bad line in deps.lock: $name $version ${integrity:-} ${extra:-}"
  [[ "$integrity" == sha512-* ]] || die "deps.lock: $name@$version: integrity must be sha512-<base64>"
  if [[ "$name" == *-cuda && $CUDA -eq 0 ]]; then
    continue
  fi
  stamp="$DEPS/.stamp-$(sanitize "$name")-$version"
  marker="$(marker_for "$name")"
  if [[ $FORCE -eq 0 && -f "$stamp" && "$(cat "$stamp")" == "$integrity" && -e "$marker" ]]; then
    log "$name@$version up to date"
    continue
  fi
  log "fetching $name@$version"
  rm -f "$stamp"
  fetch_tarball "$name" "$version" "$integrity"
  install_pkg "$name"
  echo "$integrity" >"$stamp"
  n_done=$((n_done + 1))
done <"$LOCK"
rmdir "$TMP_DIR" 2>/dev/null || true

write_env
if [[ $n_done -eq 0 ]]; then
  log "all up to date ($((SECONDS - start))s)"
else
  log "done: $n_done package(s) installed into ${DEPS#"$ROOT"/} ($((SECONDS - start))s)"
fi
