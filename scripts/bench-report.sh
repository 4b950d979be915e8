#!/usr/bin/env bash
# Regenerate the tables and plots of docs/BENCHMARKS.md and docs/measurements/README.md from the files in
# docs/measurements/ (schema: docs/measurements/SCHEMA.md): installs Debian's python3-matplotlib when it is
# missing (apt only, as scripts/setup.sh installs packages), then runs scripts/bench-report.py.
#   bash scripts/bench-report.sh                        # rewrite the generated regions and docs/plots/*.png
#   bash scripts/bench-report.sh --check                # exit 1 if a page is not up to date or a file not in the schema
#   bash scripts/bench-report.sh --help                 # all options; paths are relative to the repository root
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { echo "[bench-report] $*"; }
die() { echo "[bench-report] ERROR: $*" >&2; exit 1; }

# Debian's python3-matplotlib installs for Debian's python3, so use that interpreter when it exists.
PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3

NEED_MPL=1
for a in "$@"; do
  case "$a" in
    --no-plots|--check|--show) NEED_MPL=0 ;;
    -h|--help)
      sed -n '2,7p' "$0"
      echo
      exec "$PY" scripts/bench-report.py --help ;;
  esac
done

is_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

if [[ $NEED_MPL == 1 ]] && ! "$PY" -c 'import matplotlib' 2>/dev/null; then
  command -v dpkg-query >/dev/null || die "dpkg-query not found: install matplotlib for $PY yourself, or pass --no-plots"
  if ! is_installed python3-matplotlib; then
    SUDO=()
    if [[ $EUID -ne 0 ]]; then
      command -v sudo >/dev/null || die "not root and sudo not found; install as root: python3-matplotlib"
      SUDO=(sudo)
    fi
    log "installing Debian package python3-matplotlib"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends python3-matplotlib
    is_installed python3-matplotlib || die "package python3-matplotlib is still not installed"
  fi
  "$PY" -c 'import matplotlib' 2>/dev/null || die "python3-matplotlib is installed but $PY cannot import matplotlib"
fi

exec "$PY" scripts/bench-report.py "$@"
