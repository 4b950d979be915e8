# Sourced by the scripts in scripts/gpu/ on the GPU host, from the repository root, over a folder staged by
# scripts/gpu/stage.sh (default .device/, or $GPU_STAGE):
#   source scripts/gpu/env.sh
# Unpacks what was staged into $GPU_WORK (default /tmp/ut-gpu) and sets:
#   BIN           folder of the staged binaries (test binaries, ut, the stand-alone benches)
#   UT            the staged `ut`
#   SAN           compute-sanitizer ("" when not installed)
#   COMMIT        the staged commit ("abc1234", "abc1234-dirty" when the tree had uncommitted changes)
#   LD_LIBRARY_PATH, UT_LLAMA_LIB_DIR, UT_LLAMA_CUDA_DIR, UT_LLAMA_VOCAB_DIR  for the project's shared libraries
#                 and llama.cpp (its CPU variants, ggml's CUDA backend, the vocabularies of the synthetic models)
# and defines nvidia_vulkan_icd (prints the NVIDIA Vulkan driver's ICD file, or nothing).
# Hosts whose image lacks the Vulkan/GL loaders can bring them as Debian packages in .gl/ (unpacked into / here).
GPU_STAGE=${GPU_STAGE:-$(pwd)/.device}
GPU_WORK=${GPU_WORK:-/tmp/ut-gpu}
BIN=$GPU_WORK/bin
mkdir -p "$BIN" "$GPU_WORK/lib" "$GPU_WORK/llama"
# Binaries: one archive per suite (so that a host with a size limit on what it receives can take a subset).
for f in "$GPU_STAGE"/bin-*.tar.xz; do
  if [[ -f $f ]]; then tar -C "$BIN" -xJf "$f"; fi
done
# The project's own shared libraries (DuckDB, llama.cpp) and the Debian-only ones some images lack.
if [[ -f $GPU_STAGE/lib.tar.xz ]]; then tar -C "$GPU_WORK/lib" -xJf "$GPU_STAGE/lib.tar.xz"; fi
export LD_LIBRARY_PATH="$GPU_WORK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [[ -f $GPU_STAGE/llama.tar.xz ]]; then
  tar -C "$GPU_WORK/llama" -xJf "$GPU_STAGE/llama.tar.xz"
  export LD_LIBRARY_PATH="$GPU_WORK/llama/lib:$LD_LIBRARY_PATH"
  export UT_LLAMA_LIB_DIR=$GPU_WORK/llama/lib UT_LLAMA_CUDA_DIR=$GPU_WORK/llama/lib UT_LLAMA_VOCAB_DIR=$GPU_WORK/llama/models
  # libggml-cuda.so links the CUDA 13 runtime and cuBLAS: the toolkit's, else a Python wheel's.
  for d in /usr/local/cuda/lib64 $(find /usr/local/lib /usr/lib/python3* /opt -name 'libcublas.so.13' -printf '%h\n' 2>/dev/null | head -n1); do
    if [[ -d $d ]]; then export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$d"; fi
  done
fi
if compgen -G ".gl/*.deb" >/dev/null; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
UT=$BIN/ut
SAN=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -n1 || true)
COMMIT=$(cat "$GPU_STAGE/commit" 2>/dev/null || echo unknown)
export UT_DEBIAN_MODELS_DIR=${UT_DEBIAN_MODELS_DIR:-$(pwd)/models/debian}

# The NVIDIA driver's Vulkan ICD: the usual install paths, then a driver folder mounted under /usr/local/nvidia.
nvidia_vulkan_icd() {
  local f
  for f in /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json \
           /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd*.json; do
    [[ -f $f ]] && { echo "$f"; return 0; }
  done
  return 1
}
