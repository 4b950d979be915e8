# Sourced by the device scripts that run the staged `ut` (.device/ut, from device-build.sh) on the GPU machine:
# unpacks ut's shared libraries (.device/lib.tar.xz) and the carried Vulkan/GL loaders (.gl, see the device
# README) and sets UT and SAN (compute-sanitizer). Usage, from the repository root: source scripts/device-ut-env.sh
mkdir -p /tmp/ut-lib
tar -C /tmp/ut-lib -xJf .device/lib.tar.xz
if compgen -G ".gl/*.deb" >/dev/null; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
export LD_LIBRARY_PATH=/tmp/ut-lib
UT=.device/ut
SAN=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
