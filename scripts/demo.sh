#!/usr/bin/env bash
# Set everything up, build, and run the main job: `ut demo` (its trace lands in ut-demo-trace.json).
#   scripts/demo.sh [ut demo options...]     e.g. scripts/demo.sh --frames 600
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/build.sh
echo
echo "[demo] build/apps/ut/ut doctor"
build/apps/ut/ut doctor
echo
echo "[demo] build/apps/ut/ut demo $*"
exec build/apps/ut/ut demo "$@"
