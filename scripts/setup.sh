#!/usr/bin/env bash
# Install everything the project needs on a fresh Debian 12 machine, then fetch the pinned
# npm dependencies (scripts/fetch-deps.sh). Idempotent: a second run installs nothing.
set -euo pipefail

# Debian packages. Extend here.
PACKAGES=(
  build-essential cmake ninja-build git ca-certificates
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev
  libvulkan-dev mesa-vulkan-drivers vulkan-tools glslang-tools vulkan-validationlayers
  libimgui-dev libglfw3-dev
  libstb-dev xvfb xauth
  chromium
  libhnswlib-dev libcpp-httplib-dev
  libspdlog-dev libfmt-dev
  # clang with its runtimes (libclang_rt.fuzzer, ASan, UBSan): scripts/fuzz.sh builds the fuzz targets with them
  clang libclang-rt-dev
)
# Only installed when `node` or `npm` is missing from PATH (a NodeSource nodejs already
# bundles npm and conflicts with Debian's npm package).
NODE_PACKAGES=(nodejs npm)

usage() {
  cat <<'EOF'
Usage: scripts/setup.sh [--no-apt] [--force] [--cuda] [--help]

Installs the Debian packages the project needs (only those missing), then runs
scripts/fetch-deps.sh to fetch the pinned npm dependencies into .deps/.

  --no-apt  skip the Debian package step
  --force   passed to fetch-deps.sh: re-fetch all npm packages
  --cuda    passed to fetch-deps.sh: also fetch the CUDA llama.cpp backend (large)
  --help    show this help
EOF
}

NO_APT=0
FETCH_ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-apt) NO_APT=1 ;;
    --force|--cuda) FETCH_ARGS+=("$1") ;;
    -h|--help) usage; exit 0 ;;
    *) echo "[setup] unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

log() { echo "[setup] $*"; }
die() { echo "[setup] ERROR: $*" >&2; exit 1; }

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
start=$SECONDS

is_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

if [[ $NO_APT -eq 1 ]]; then
  log "skipping Debian packages (--no-apt)"
else
  command -v dpkg-query >/dev/null || die "dpkg-query not found: this script expects Debian 12"
  wanted=("${PACKAGES[@]}")
  if command -v node >/dev/null && command -v npm >/dev/null; then
    log "node $(node --version) and npm $(npm --version) found on PATH"
  else
    wanted+=("${NODE_PACKAGES[@]}")
  fi
  missing=()
  for p in "${wanted[@]}"; do
    is_installed "$p" || missing+=("$p")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "all ${#wanted[@]} Debian packages already installed"
  else
    SUDO=()
    if [[ $EUID -ne 0 ]]; then
      command -v sudo >/dev/null || die "not root and sudo not found; install as root: ${missing[*]}"
      SUDO=(sudo)
    fi
    log "installing ${#missing[@]} Debian package(s): ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    log "apt-get update"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    # No recommends: mesa-vulkan-drivers itself ships lavapipe (checked below).
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends "${missing[@]}"
    for p in "${missing[@]}"; do
      is_installed "$p" || die "package $p is still not installed"
    done
    log "Debian packages installed"
  fi
  # Software Vulkan (lavapipe) must be available for headless tests.
  if compgen -G '/usr/share/vulkan/icd.d/lvp_icd*.json' >/dev/null; then
    log "lavapipe ICD: $(echo /usr/share/vulkan/icd.d/lvp_icd*.json)"
  else
    die "lavapipe ICD (/usr/share/vulkan/icd.d/lvp_icd*.json) missing; is mesa-vulkan-drivers installed?"
  fi
fi

log "fetching npm dependencies"
bash "$SCRIPT_DIR/fetch-deps.sh" "${FETCH_ARGS[@]}"
log "done ($((SECONDS - start))s)"
